"""The lake from outside: `imagelake report` and `lake ...` as processes, `serve` compacting."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from imagelake.adapters.embedded.files import LocalBlobStore
from imagelake.domain.signing import Signer
from tests.e2e.service import Service
from tests.lake_rig import archive, by_day, image_counts, payload, requests

REQS = requests(300)


@pytest.fixture
def filled(tmp_path: Path) -> Service:
    """A data dir whose lake the real archiver filled (with redeliveries); no server."""
    svc = Service(tmp_path / "data")
    lake = LocalBlobStore(svc.data_dir / "blobs", "http://unused", Signer(b"unused", ()))
    archive(lake, [r.body for r in REQS[:200]])
    archive(lake, [r.body for r in REQS[100:]])
    return svc


def run(svc: Service, *args: str) -> str:
    done = svc.cli(*args)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_report_is_json_when_piped_and_unchanged_by_compaction(filled: Service) -> None:
    raw = filled.data_dir / "blobs" / "events" / "raw"
    raw_files = {p: p.read_bytes() for p in raw.rglob("*.jsonl")}
    before = json.loads(run(filled, "report"))

    compacted = filled.cli("lake", "compact")
    rerun = filled.cli("lake", "compact")
    after = json.loads(run(filled, "report"))

    assert before["by"] == "day"
    days = {
        r["day"]: (r["requests"], r["unique_users"], r["unique_images"]) for r in before["rows"]
    }
    assert days == by_day(REQS)
    assert compacted.returncode == 0
    assert "3 partition(s), 300 events (100 duplicates dropped)" in compacted.stderr.decode()
    assert "compacted 0 partition(s)" in rerun.stderr.decode()
    assert after == before
    parquet = filled.data_dir / "blobs" / "events" / "parquet" / "event_name=IMAGE_REQUESTED"
    assert len(list(parquet.glob("dt=*/part-*.parquet"))) == len(by_day(REQS))
    assert {p: p.read_bytes() for p in raw.rglob("*.jsonl")} == raw_files


def test_report_formats(filled: Service) -> None:
    text = run(filled, "report", "--by", "image", "--top", "3", "--format", "csv")
    table = run(filled, "report", "--by", "user", "--since", "2021-07-11", "--format", "table")
    ranked = json.loads(run(filled, "report", "--by", "image", "--top", "3", "--format", "json"))

    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["image_id", "requests", "unique_users", "last_requested_at"]
    assert [r["image_id"] for r in rows] == [r["image_id"] for r in ranked["rows"]]
    counts = image_counts(REQS)
    for row in rows:
        assert (int(row["requests"]), int(row["unique_users"])) == counts[row["image_id"]]
    assert "Top users, 2021-07-11 .. now (UTC)" in table
    chosen = [r for r in REQS if r.at.date().isoformat() >= "2021-07-11"]
    assert f"{len(chosen)} requests of" in table
    assert "user-0" in table


def test_bad_input_is_a_usage_error(filled: Service) -> None:
    bad_date = filled.cli("report", "--since", "last week")
    backwards = filled.cli("report", "--since", "2021-07-12", "--until", "2021-07-11")

    assert bad_date.returncode == 2 and "is not a date" in bad_date.stderr.decode()
    assert backwards.returncode == 2 and "after until" in backwards.stderr.decode()


def test_athena_ddl_points_at_the_configured_archive(tmp_path: Path) -> None:
    svc = Service(tmp_path / "data", extra_env={"IMAGELAKE_ARCHIVE": "s3://acme-lake/prod"})

    ddl = run(svc, "lake", "athena-ddl", "--database", "acme")

    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `acme`.`events_raw`" in ddl
    assert "LOCATION 's3://acme-lake/prod/events/parquet/'" in ddl
    assert "'projection.dt.type' = 'date'" in ddl


def test_serve_compacts_closed_hours_on_its_own(tmp_path: Path) -> None:
    svc = Service(tmp_path / "data", extra_env={"IMAGELAKE_LAKE_COMPACT_INTERVAL": "1"}).start()
    try:
        with svc.client() as client:
            bodies = [json.loads(r.body) for r in REQS[:50]]
            assert client.post("/events", json=bodies).status_code == 202
            now = payload("me", "image-now", REQS[0].at.now(REQS[0].at.tzinfo))
            assert client.post("/events", content=now).status_code == 202
            parquet = svc.data_dir / "blobs" / "events" / "parquet"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(list(parquet.rglob("part-*"))) < 2:
                time.sleep(0.2)
            summary = client.get("/stats/summary").json()
        assert len(list(parquet.rglob("part-*.parquet"))) == len(by_day(REQS[:50]))
        assert summary["requests"] == 51  # the running hour's event counts too, from raw
    finally:
        svc.stop()
