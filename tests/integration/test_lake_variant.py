"""The variant of each request in the lake: read from raw batches, kept in parts, ranked.

A request's variant is its event's `variant`, else (events from before it was sent) its
`size`, else "unknown"; parts compacted before the column existed read it as NULL.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from imagelake.adapters.embedded.duckdb_engine import DuckDBEngine
from imagelake.adapters.embedded.files import LocalBlobStore
from imagelake.adapters.memory import MemoryBlobStore
from imagelake.cli.app import app
from imagelake.domain.errors import InvalidInput
from imagelake.lake.analytics import Analytics
from imagelake.lake.compaction import LakeCompactor
from imagelake.lake.layout import Manifest, Partition
from imagelake.lake.reports import Filters, GroupBy, VariantRow, report_payload
from imagelake.ports import BlobStore
from tests.integration.conftest import BASE_URL, SIGNER
from tests.lake_rig import START, archive, archived_line, payload, put_raw_batch

PARQUET = "events/parquet/"
NAMES = ("512x512-inside-q82.jpg", "original", "128x128-cover-q75.webp", "1600x900-fill.avif")
Counts = dict[str, tuple[int, int, int, datetime]]


@dataclass(frozen=True)
class Hit:
    """One request, the fields its event carries beyond the contract, and its variant."""

    user: str
    image: str
    at: datetime
    variant: str  # what the lake must report for it
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def body(self) -> bytes:
        return payload(self.user, self.image, self.at, **self.fields)


def hits(n: int, start: datetime = START, old: bool = False) -> list[Hit]:
    """n requests over a few UTC days; old ones send `size` (or nothing), new ones `variant`.

    Every 9th request of either kind sends neither: it counts as "unknown".
    """
    made = []
    for i in range(n):
        user, image, at = (
            f"user-{(i * 7) % 5}",
            f"image-{(i * i) % 9}",
            start + i * timedelta(minutes=7),
        )
        if i % 9 == 4:
            made.append(Hit(user, image, at, "unknown"))
        elif old:
            size = ("128", "256", "512", "original")[(i * i) % 4]
            made.append(Hit(user, image, at, size, {"size": size}))
        else:
            name = NAMES[(i * 3 + i // 5) % len(NAMES)]
            made.append(Hit(user, image, at, name, {"variant": name, "size": "ignored"}))
    return made


def expected(reqs: list[Hit]) -> Counts:
    """variant -> (requests, unique users, unique images, last request), from the requests."""
    groups: dict[str, list[Hit]] = {}
    for r in reqs:
        groups.setdefault(r.variant, []).append(r)
    return {
        v: (len(rs), len({r.user for r in rs}), len({r.image for r in rs}), max(r.at for r in rs))
        for v, rs in groups.items()
    }


def counted(rows: list[VariantRow]) -> Counts:
    return {
        r.variant: (r.requests, r.unique_users, r.unique_images, r.last_requested_at) for r in rows
    }


def variants(analytics: Analytics, filters: Filters | None = None) -> Counts:
    found = counted(analytics.top_variants(filters or Filters(), 1000))
    assert all(at.tzinfo is UTC for *_, at in found.values())
    return found


def old_schema(store: BlobStore, tmp_path: Path) -> list[str]:
    """Every part rewritten as compaction wrote it before the variant column; their keys."""
    keys = [k for k in store.list(PARQUET) if k.endswith(".parquet")]
    for n, key in enumerate(keys):
        src, dst = tmp_path / f"new-{n}.parquet", tmp_path / f"old-{n}.parquet"
        src.write_bytes(store.get(key))
        duckdb.sql(
            f"COPY (SELECT * EXCLUDE (variant) FROM read_parquet('{src}')) TO '{dst}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
        store.put(key, dst.read_bytes(), "application/vnd.apache.parquet")
        assert "variant" not in pq.read_schema(io.BytesIO(store.get(key))).names
    return keys


def part_variants(store: BlobStore) -> set[str | None]:
    parts = [k for k in store.list(PARQUET) if k.endswith(".parquet")]
    return {
        v for k in parts for v in pq.read_table(io.BytesIO(store.get(k)))["variant"].to_pylist()
    }


@pytest.fixture(params=["embedded", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "embedded":
        return LocalBlobStore(tmp_path / "lake", BASE_URL, SIGNER)
    return MemoryBlobStore(BASE_URL, SIGNER)  # parts reach DuckDB as cached copies


@pytest.fixture
def analytics(store: BlobStore, tmp_path: Path) -> Analytics:
    return Analytics(store, DuckDBEngine(), tmp_path / "cache", threads=2)


def test_variants_agree_over_raw_batches_compacted_parts_and_a_mix(
    store: BlobStore, analytics: Analytics
) -> None:
    reqs = hits(300, old=True)[:60] + hits(400, START + timedelta(hours=7))
    for i in range(0, len(reqs), 70):
        archive(store, [r.body for r in reqs[i : i + 70]])
    archive(store, [r.body for r in reqs[50:90]])  # redelivered: counted once

    raw_only = variants(analytics)
    LakeCompactor(store, DuckDBEngine()).compact(date(2021, 7, 11))
    mixed = variants(analytics)
    LakeCompactor(store, DuckDBEngine()).compact()
    compacted = variants(analytics)

    assert raw_only == expected(reqs)
    assert {"unknown", "original", "128", *NAMES} <= set(raw_only)
    assert mixed == raw_only and compacted == raw_only
    assert part_variants(store) == {*raw_only} - {"unknown"} | {None}  # NULL, not "unknown"
    assert sum(n for n, *_ in compacted.values()) == analytics.summary(Filters()).requests


def test_top_variants_are_ranked_by_requests_then_name(
    store: BlobStore, analytics: Analytics
) -> None:
    reqs = hits(300)
    archive(store, [r.body for r in reqs])
    every = expected(reqs)

    top = analytics.top_variants(Filters(), top=3)

    ranked = sorted(every, key=lambda v: (-every[v][0], v))
    assert [r.variant for r in top] == ranked[:3]
    assert counted(top) == {v: every[v] for v in ranked[:3]}
    assert analytics.requests(GroupBy.variant, Filters(), 2) == top[:2]
    with pytest.raises(InvalidInput):
        analytics.top_variants(Filters(), top=0)
    with pytest.raises(InvalidInput):
        analytics.requests(GroupBy.variant, Filters(), 1001)


def test_filters_pick_days_and_an_image_of_variants(store: BlobStore, analytics: Analytics) -> None:
    reqs = hits(120, old=True) + hits(500, START + timedelta(hours=14))
    archive(store, [r.body for r in reqs])
    LakeCompactor(store, DuckDBEngine()).compact(date(2021, 7, 12))  # the rest stays raw
    window = Filters(since=date(2021, 7, 11), until=date(2021, 7, 12))
    in_window = [r for r in reqs if date(2021, 7, 11) <= r.at.date() <= date(2021, 7, 12)]

    assert variants(analytics, window) == expected(in_window)
    assert variants(analytics, Filters(image_id="image-4")) == expected(
        [r for r in reqs if r.image == "image-4"]
    )
    both = Filters(since=date(2021, 7, 12), until=date(2021, 7, 12), image_id="image-0")
    assert variants(analytics, both) == expected(
        [r for r in reqs if r.image == "image-0" and r.at.date() == date(2021, 7, 12)]
    )
    assert variants(analytics, Filters(image_id="no-such-image")) == {}
    assert variants(analytics, Filters(since=date(2030, 1, 1))) == {}


def test_parts_compacted_before_the_variant_column_still_answer_and_merge(
    store: BlobStore, analytics: Analytics, tmp_path: Path
) -> None:
    old = hits(300, old=True)  # 2021-07-10 22:00 .. 2021-07-12
    archive(store, [r.body for r in old])
    LakeCompactor(store, DuckDBEngine()).compact()
    old_parts = old_schema(store, tmp_path)
    new = hits(300, START + timedelta(hours=20))  # the same days and one more, raw only
    archive(store, [r.body for r in new])
    archive(store, [r.body for r in old[:30]])  # redelivered into raw: still counted once
    # Rows of an old part have no variant to give, whatever their event held.
    want = expected([replace(r, variant="unknown") for r in old] + new)

    assert variants(analytics) == want
    assert analytics.summary(Filters()).requests == len(old) + len(new)
    images = {r.image_id: r.requests for r in analytics.top_images(Filters(), 1000)}
    assert sum(images.values()) == len(old) + len(new)
    # Read again with fingerprints recomputed, as by a reader of another DuckDB version.
    partition = Partition("IMAGE_REQUESTED", old[0].at.date())
    manifest = Manifest.from_bytes(store.get(partition.manifest_key), "m")
    forged = Manifest(
        manifest.part, manifest.events, manifest.users, manifest.images, 1, manifest.raw
    )
    store.put(partition.manifest_key, forged.to_bytes(), "application/json")
    assert variants(Analytics(store, DuckDBEngine(), tmp_path / "cache2")) == want

    report = LakeCompactor(store, DuckDBEngine()).compact()  # merges raw into the old parts

    assert report.quarantined == [] and report.events == len(old) + len(new)
    assert not set(old_parts) & set(store.list(PARQUET))  # every one replaced
    assert None in part_variants(store) and set(NAMES) <= part_variants(store)
    assert variants(analytics) == want


def test_payloads_without_a_usable_variant(store: BlobStore, analytics: Analytics) -> None:
    day = datetime(2021, 7, 11, 9, 0, tzinfo=UTC)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("512", {"variant": 512}),  # a number, as its text
        ("256", {"variant": {"w": 256}, "size": "256"}),  # not a name: the size then
        ("original", {"variant": None, "size": "original"}),
        ("128", {"variant": "", "size": 128}),
        ("unknown", {"variant": ["a"]}),
        ("unknown", {"variant": True}),
        ("unknown", {"size": ""}),
        ("été-800.jpg", {"variant": "été-800.jpg"}),
    ]
    reqs = [
        Hit(f"user-{n}", f"image-{n}", day + timedelta(minutes=n), v, f)
        for n, (v, f) in enumerate(cases)
    ]
    archive(store, [r.body for r in reqs])
    # Hand-written lines whose `raw` is no JSON object: counted, under "unknown".
    broken = [
        Hit("user-x", "image-x", day + timedelta(minutes=30 + n), "unknown") for n in range(3)
    ]
    lines = [
        archived_line(r.user, r.image, r.at, raw=raw)
        for r, raw in zip(broken, ["not json {", "[1, 2]", '"variant"'], strict=True)
    ]
    put_raw_batch(store, day, b"".join(lines))

    raw_only = variants(analytics)
    report = LakeCompactor(store, DuckDBEngine()).compact()

    assert raw_only == expected(reqs + broken)
    assert raw_only["unknown"][0] == 6
    assert report.quarantined == [] and report.events == len(reqs) + len(broken)
    assert variants(analytics) == raw_only


def test_an_empty_lake_has_no_variants(analytics: Analytics) -> None:
    assert analytics.requests(GroupBy.variant, Filters()) == []


def test_the_report_payload_of_variants(store: BlobStore, analytics: Analytics) -> None:
    reqs = hits(100)
    archive(store, [r.body for r in reqs])
    filters = Filters(since=date(2021, 7, 10))

    payload = report_payload(
        GroupBy.variant, filters, 2, analytics.requests(GroupBy.variant, filters, 2)
    )

    every = expected(reqs)
    ranked = sorted(every, key=lambda v: (-every[v][0], v))[:2]
    assert {k: v for k, v in payload.items() if k != "rows"} == {
        "by": "variant",
        "since": "2021-07-10",
        "until": None,
        "image_id": None,
        "top": 2,
    }
    assert payload["rows"] == [
        {
            "variant": v,
            "requests": every[v][0],
            "unique_users": every[v][1],
            "unique_images": every[v][2],
            "last_requested_at": every[v][3].isoformat(),
        }
        for v in ranked
    ]
    json.dumps(payload)  # as the CLI prints it


def test_imagelake_report_by_variant(tmp_path: Path) -> None:
    lake = LocalBlobStore(tmp_path / "data" / "blobs", BASE_URL, SIGNER)
    reqs = hits(200, old=True)[:40] + hits(200, START + timedelta(hours=5))
    archive(lake, [r.body for r in reqs])
    env = {
        "IMAGELAKE_DATA_DIR": str(tmp_path / "data"),
        "IMAGELAKE_ARCHIVE": "",
        "IMAGELAKE_BLOBS": "",
        "IMAGELAKE_CONFIG": "",
        "COLUMNS": "200",  # wide enough for every name on one line
    }

    def run(*args: str) -> str:
        done = CliRunner().invoke(app, ["report", "--by", "variant", *args], env=env)
        assert done.exit_code == 0, done.output
        return done.stdout

    as_json = json.loads(run("--top", "3", "--format", "json"))
    as_csv = run("--top", "1000", "--format", "csv")
    table = run("--format", "table", "--since", "2021-07-11")

    every = expected(reqs)
    ranked = sorted(every, key=lambda v: (-every[v][0], v))
    assert (as_json["by"], as_json["top"]) == ("variant", 3)
    assert [(r["variant"], r["requests"]) for r in as_json["rows"]] == [
        (v, every[v][0]) for v in ranked[:3]
    ]
    header, *lines = as_csv.splitlines()
    assert header == "variant,requests,unique_users,unique_images,last_requested_at"
    assert [line.split(",")[0] for line in lines] == ranked
    assert "Top variants, 2021-07-11 .. now (UTC)" in table
    later = [r for r in reqs if r.at.date() >= date(2021, 7, 11)]
    assert f"{len(later):,} requests of" in table
    assert "512x512-inside-q82.jpg" in table
