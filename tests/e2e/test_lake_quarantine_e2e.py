"""Bad raw batches from outside: `report` and `lake compact` go on, `lake quarantine` lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from imagelake.adapters.embedded.files import LocalBlobStore
from imagelake.domain.signing import Signer
from tests.e2e.service import Service
from tests.lake_rig import archive, archived_line, by_day, put_raw_batch, requests

REQS = requests(200)
BAD_AT = datetime(2021, 7, 11, 3, 30, tzinfo=UTC)


def run(svc: Service, *args: str) -> tuple[str, str]:
    done = svc.cli(*args)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode(), done.stderr.decode()


def test_reports_and_compaction_go_on_and_the_quarantine_is_listed(tmp_path: Path) -> None:
    svc = Service(tmp_path / "data", extra_env={"COLUMNS": "250"})
    lake = LocalBlobStore(svc.data_dir / "blobs", "http://unused", Signer(b"unused", ()))
    archive(lake, [r.body for r in REQS])
    corrupt = archived_line("u", "i", BAD_AT) + b'{"key": "sha256:00", "rec\n'
    first = put_raw_batch(lake, BAD_AT, corrupt, "corrupt")
    _, nothing = run(svc, "lake", "quarantine")

    report, _ = run(svc, "report")
    not_utf8 = archived_line("u", "i", BAD_AT).replace(b'"u"', b'"\xff"')
    second = put_raw_batch(lake, BAD_AT + timedelta(days=1), not_utf8, "not-utf-8")
    _, compacted = run(svc, "lake", "compact")
    listed, _ = run(svc, "lake", "quarantine", "--json")
    table, summary = run(svc, "lake", "quarantine")

    assert "nothing is quarantined" in nothing
    days = json.loads(report)["rows"]
    assert {r["day"]: (r["requests"], r["unique_users"], r["unique_images"]) for r in days} == (
        by_day(REQS)
    )
    assert f"quarantined {second}" in compacted
    assert "1 unreadable batch(es) quarantined" in compacted
    rows = [json.loads(line) for line in listed.splitlines()]
    assert [r["key"] for r in rows] == [first, second]
    assert "Malformed JSON" in rows[0]["reason"] and "UTF-8" in rows[1]["reason"]
    assert all(r["quarantined_at"] and r["bytes"] > 0 for r in rows)
    assert rows[0]["bytes"] == len(corrupt)
    assert first in table and second in table and "Malformed JSON" in table
    assert "2 batch(es) in events/quarantine/" in summary
    assert not list((svc.data_dir / "blobs" / "events" / "raw").rglob("corrupt.jsonl"))
