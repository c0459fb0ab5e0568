"""The stats API over a lake holding what it never should: it answers, or says so safely."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagelake.domain.access import Role
from imagelake.lake.quarantine import Quarantine
from tests.lake_rig import archive, archived_line, by_day, payload, put_raw_batch, requests
from tests.unit.api_harness import Api, open_api

REQS = requests(200)
BAD_AT = datetime(2021, 7, 11, 3, 30, tzinfo=UTC)
END_OF_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
QUARANTINED = "imagelake_lake_quarantined_batches"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The API over a lake of local files in the data dir, filled by the real archiver."""
    blobs = f"file://{tmp_path / 'data' / 'blobs'}"
    with open_api(tmp_path, role=Role.ADMIN, blobs=blobs) as api:
        archive(api.wired.container.archive, [r.body for r in REQS])
        yield api


def days(api: Api, **params: str) -> dict[str, tuple[int, int, int]]:
    reply = api.client.get("/stats/requests", params={"by": "day", **params})
    assert reply.status_code == 200, reply.text
    rows = reply.json()["rows"]
    return {r["day"]: (r["requests"], r["unique_users"], r["unique_images"]) for r in rows}


def test_a_40_mb_event_in_the_archive_is_quarantined_and_counted_in_metrics(api: Api) -> None:
    lake = api.wired.container.archive
    line = archived_line("user-big", "image-big", BAD_AT, raw="x" * (40 * 1024 * 1024))
    key = put_raw_batch(lake, BAD_AT, line)
    assert api.metric(QUARANTINED) == 0

    assert days(api) == by_day(REQS)
    summary = api.client.get("/stats/summary")
    top = api.client.get("/stats/requests", params={"by": "image"})

    assert summary.status_code == top.status_code == 200
    assert summary.json()["requests"] == len(REQS)
    assert [e.key for e in Quarantine(lake).entries()] == [key]
    assert api.metric(QUARANTINED) == 1
    report = api.wired.lake.compactor.compact()
    assert report.events == len(REQS) and report.quarantined == []


def test_an_event_stamped_9999_12_31_is_compacted_and_counted(api: Api) -> None:
    lake = api.wired.container.archive
    archive(lake, [payload("user-late", "image-late", END_OF_TIME)])

    scheduled = api.wired.lake.compactor.compact()
    everything = api.wired.lake.compactor.compact(all_hours=True)

    assert scheduled.events == len(REQS) and scheduled.open_objects == 1
    assert everything.events == 1
    assert days(api) == {**by_day(REQS), "9999-12-31": (1, 1, 1)}
    assert days(api, since="9999-12-01") == {"9999-12-31": (1, 1, 1)}
    summary = api.client.get("/stats/summary").json()
    assert summary["requests"] == len(REQS) + 1
    assert summary["last_request_at"] == "9999-12-31T23:59:59Z"
    top = api.client.get("/stats/requests", params={"by": "user", "top": 1000}).json()["rows"]
    assert {"user-late": "9999-12-31T23:59:59Z"}.items() <= {
        r["user_id"]: r["last_requested_at"] for r in top
    }.items()


def test_a_backend_error_over_http_names_no_server_path(api: Api, tmp_path: Path) -> None:
    api.wired.lake.compactor.compact()
    lake = api.wired.container.archive
    part = next(k for k in lake.list("events/parquet/") if k.endswith(".parquet"))
    lake.put(part, b"not parquet at all, and long enough to look like something" * 10, "x")

    reply = api.client.get("/stats/summary")

    assert reply.status_code == 503, reply.text
    body = reply.text
    assert str(tmp_path) not in body and tempfile.gettempdir() not in body
    assert "blobs" not in body and "parquet" not in body
    assert reply.json()["error"]["code"] in ("backend_error", "unreadable_data")
    assert "error id" in reply.json()["error"]["message"]
    assert api.healthy()
