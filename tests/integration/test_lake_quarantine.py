"""Whatever sits in the raw archive, compaction and queries go on: bad batches are set aside."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from imagelake.adapters.embedded.duckdb_engine import DuckDBEngine
from imagelake.adapters.embedded.files import LocalBlobStore
from imagelake.adapters.memory import MemoryBlobStore
from imagelake.lake.analytics import Analytics
from imagelake.lake.compaction import LakeCompactor
from imagelake.lake.quarantine import PROBE, QUARANTINE_PREFIX, Quarantine
from imagelake.lake.reports import Filters
from imagelake.ports import BlobStore, LakeConnection
from tests.integration.conftest import BASE_URL, SIGNER
from tests.lake_rig import (
    archive,
    archived_line,
    by_day,
    image_counts,
    payload,
    put_raw_batch,
    requests,
    user_counts,
)

REQS = requests(300)  # 2021-07-10 22:00 .. 2021-07-12 08:53
BAD_AT = datetime(2021, 7, 11, 3, 30, tzinfo=UTC)
MiB = 1024 * 1024


def good(user: str = "user-x") -> bytes:
    return archived_line(user, "image-x", BAD_AT)


BAD_BATCHES: dict[str, Callable[[], bytes]] = {
    "corrupt line": lambda: good() + b'{"key": "sha256:00", "received_at": "20\n',
    "not UTF-8": lambda: (
        good() + archived_line("user-\udcff", "i", BAD_AT).replace(b"\\udcff", b"\xff\xfe")
    ),
    "a 40 MB line": lambda: good() + archived_line("u", "i", BAD_AT, raw="x" * (40 * MiB)),
    "a timestamp DuckDB cannot hold": lambda: archived_line(
        "u", "i", BAD_AT, timestamp="300000-01-01T00:00:00+00:00"
    ),
    "a timestamp that is no time": lambda: archived_line("u", "i", BAD_AT, timestamp="soon"),
    "a timestamp Python cannot hold": lambda: (
        good() + archived_line("u", "i", BAD_AT, timestamp="10000-01-01T00:00:00+00:00")
    ),
    "a line without a user": lambda: good() + archived_line("u", "i", BAD_AT, user_id=None),
    "not an object": lambda: good() + b"[1, 2]\n",
}

# Requests per day need no user id: they count that line until a query needing one trips.
READ_BY_SOME_QUERIES = {"a line without a user"}


@pytest.fixture(params=["embedded", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "embedded":
        return LocalBlobStore(tmp_path / "lake", BASE_URL, SIGNER)
    return MemoryBlobStore(BASE_URL, SIGNER)


def answers(analytics: Analytics) -> dict[str, Any]:
    f = Filters()
    return {
        "day": {
            str(r.day): (r.requests, r.unique_users, r.unique_images) for r in analytics.by_day(f)
        },
        "image": {r.image_id: (r.requests, r.unique_users) for r in analytics.top_images(f, 1000)},
        "user": {r.user_id: (r.requests, r.unique_images) for r in analytics.top_users(f, 1000)},
        "requests": analytics.summary(f).requests,
    }


EXPECTED = {
    "day": by_day(REQS),
    "image": image_counts(REQS),
    "user": user_counts(REQS),
    "requests": len(REQS),
}


def assert_quarantined(store: BlobStore, key: str, data: bytes) -> None:
    assert key not in set(store.list("events/raw/"))
    [entry] = Quarantine(store).entries()
    assert entry.key == key
    assert entry.reason and key in entry.reason  # the engine's words, naming the batch
    assert "imagelake-" not in entry.reason  # and no temporary file of ours
    assert entry.quarantined_at is not None
    assert abs(entry.quarantined_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert entry.bytes == len(data)
    moved = f"{QUARANTINE_PREFIX}/{key.removeprefix('events/')}"
    assert store.get(moved) == data
    reason = json.loads(store.get(moved + ".reason.json"))
    assert (reason["key"], reason["reason"]) == (key, entry.reason)
    assert Quarantine(store).count() == 1


@dataclass(frozen=True)
class BadLake:
    kind: str
    key: str  # of the bad batch
    data: bytes  # its bytes


@pytest.fixture(params=BAD_BATCHES)
def bad_lake(request: pytest.FixtureRequest, store: BlobStore) -> BadLake:
    """The good requests in two batches through the archiver, and one bad batch beside them."""
    data = BAD_BATCHES[request.param]()
    archive(store, [r.body for r in REQS[:150]])
    key = put_raw_batch(store, BAD_AT, data)
    archive(store, [r.body for r in REQS[150:]])
    return BadLake(request.param, key, data)


def test_queries_quarantine_a_batch_duckdb_cannot_read_and_count_the_rest(
    store: BlobStore, bad_lake: BadLake, tmp_path: Path
) -> None:
    analytics = Analytics(store, DuckDBEngine(), tmp_path / "cache", threads=2)

    first = answers(analytics)

    if bad_lake.kind not in READ_BY_SOME_QUERIES:
        assert first == EXPECTED
    assert_quarantined(store, bad_lake.key, bad_lake.data)
    assert answers(analytics) == EXPECTED  # and from then on without a detour


def test_compaction_quarantines_a_batch_duckdb_cannot_read_and_compacts_the_rest(
    store: BlobStore, bad_lake: BadLake, tmp_path: Path
) -> None:
    report = LakeCompactor(store, DuckDBEngine()).compact()

    assert report.quarantined == [bad_lake.key]
    assert report.events == len(REQS)
    assert [str(c.partition.dt) for c in report.compacted] == sorted(by_day(REQS))
    assert_quarantined(store, bad_lake.key, bad_lake.data)
    assert LakeCompactor(store, DuckDBEngine()).compact().compacted == []
    assert answers(Analytics(store, DuckDBEngine(), tmp_path / "cache")) == EXPECTED


def test_two_bad_batches_in_two_days_are_both_set_aside(store: BlobStore, tmp_path: Path) -> None:
    archive(store, [r.body for r in REQS])
    first = put_raw_batch(store, BAD_AT, BAD_BATCHES["corrupt line"](), "bad-1")
    second = put_raw_batch(
        store, BAD_AT + timedelta(days=1), BAD_BATCHES["not an object"](), "bad-2"
    )
    analytics = Analytics(store, DuckDBEngine(), tmp_path / "cache")

    assert answers(analytics) == EXPECTED
    assert sorted(e.key for e in Quarantine(store).entries()) == [first, second]


class CountingEngine:
    """DuckDB, recording every statement run on it."""

    def __init__(self) -> None:
        self.inner = DuckDBEngine()
        self.statements: list[str] = []

    def connect(self, threads: int | None = None) -> LakeConnection:
        con = self.inner.connect(threads)
        statements = self.statements

        class Recording:
            def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
                statements.append(sql)
                return con.execute(sql, params)

            def close(self) -> None:
                con.close()

        return Recording()

    def fingerprint_probe(self) -> int:
        return self.inner.fingerprint_probe()


def test_a_readable_lake_is_never_probed_batch_by_batch(store: BlobStore, tmp_path: Path) -> None:
    archive(store, [r.body for r in REQS[:150]])
    archive(store, [r.body for r in REQS[150:]])
    engine = CountingEngine()
    analytics = Analytics(store, engine, tmp_path / "cache")

    assert answers(analytics) == EXPECTED
    LakeCompactor(store, engine).compact()
    archive(store, [r.body for r in REQS[:10]])  # redelivered: read raw beside the parts
    assert answers(analytics) == EXPECTED

    assert engine.statements
    assert PROBE not in engine.statements
    assert Quarantine(store).entries() == []


EDGES = [
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(9999, 12, 31, 0, 0, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, tzinfo=UTC),
]


def test_timestamps_at_the_ends_of_time_stop_neither_compaction_nor_queries(
    store: BlobStore, tmp_path: Path
) -> None:
    archive(store, [r.body for r in REQS])
    archive(store, [payload("user-edge", "image-edge", at) for at in EDGES])
    analytics = Analytics(store, DuckDBEngine(), tmp_path / "cache")

    scheduled = LakeCompactor(store, DuckDBEngine()).compact()
    days = answers(analytics)["day"]
    everything = LakeCompactor(store, DuckDBEngine()).compact(all_hours=True)

    assert scheduled.events == len(REQS) + 1  # year 1 has ended; 9999-12-31 has not begun
    assert scheduled.open_objects == 2  # hours 00 and 23 of 9999-12-31
    assert everything.events == 2 and everything.open_objects == 0
    assert (
        days
        == answers(analytics)["day"]
        == {
            "0001-01-01": (1, 1, 1),
            **by_day(REQS),
            "9999-12-31": (2, 1, 1),
        }
    )
    summary = analytics.summary(Filters())
    assert summary.requests == len(REQS) + 3
    assert (summary.first_request_at, summary.last_request_at) == (EDGES[2], EDGES[0])
    [edge] = [r for r in analytics.top_images(Filters(), 1000) if r.image_id == "image-edge"]
    assert (edge.requests, edge.last_requested_at) == (3, EDGES[0])
    last_day = Filters(since=date(9999, 12, 31), until=date(9999, 12, 31))
    assert analytics.summary(last_day).requests == 2
    assert Quarantine(store).entries() == []
