"""The event lake on real files and DuckDB: compaction, and queries that never double-count."""

from __future__ import annotations

import io
import shutil
import tempfile
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from imagelake.adapters.embedded.duckdb_engine import DuckDBEngine
from imagelake.adapters.embedded.files import LocalBlobStore
from imagelake.adapters.memory import MemoryBlobStore
from imagelake.domain.errors import InvalidInput
from imagelake.lake import compaction as lake
from imagelake.lake import files as lake_files
from imagelake.lake.analytics import Analytics
from imagelake.lake.compaction import LakeCompactor
from imagelake.lake.layout import Manifest, Partition
from imagelake.lake.reports import Filters, GroupBy
from imagelake.ports import BlobStore
from tests.integration.conftest import BASE_URL, SIGNER
from tests.lake_rig import archive, by_day, image_counts, payload, requests, user_counts

RAW = "events/raw/"
PARQUET = "events/parquet/"


@pytest.fixture(params=["embedded", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "embedded":
        return LocalBlobStore(tmp_path / "lake", BASE_URL, SIGNER)
    return MemoryBlobStore(BASE_URL, SIGNER)  # objects reach DuckDB through the port


@pytest.fixture
def analytics(store: BlobStore, tmp_path: Path) -> Analytics:
    return Analytics(store, DuckDBEngine(), tmp_path / "cache", threads=2)


def snapshot_of(store: BlobStore, prefix: str) -> dict[str, bytes]:
    return {key: store.get(key) for key in store.list(prefix)}


def answers(analytics: Analytics, filters: Filters | None = None) -> dict[str, Any]:
    """Every question the report can ask, with rows in a stable order."""
    f = filters or Filters()
    return {
        "day": analytics.by_day(f),
        "image": sorted(analytics.top_images(f, 1000), key=repr),
        "user": sorted(analytics.top_users(f, 1000), key=repr),
        "variant": analytics.top_variants(f, 1000),
        "summary": analytics.summary(f),
    }


def parquet_rows(store: BlobStore) -> int:
    parts = [k for k in store.list(PARQUET) if k.endswith(".parquet")]
    return sum(pq.read_metadata(io.BytesIO(store.get(k))).num_rows for k in parts)


def test_compaction_writes_one_zstd_part_per_day_and_keeps_raw(store: BlobStore) -> None:
    reqs = requests(600)  # 2021-07-10 22:00 .. 2021-07-13
    archive(store, [r.body for r in reqs[:300]])
    archive(store, [r.body for r in reqs[300:]])
    raw_before = snapshot_of(store, RAW)

    report = LakeCompactor(store, DuckDBEngine()).compact()

    assert snapshot_of(store, RAW) == raw_before
    days = sorted(by_day(reqs))
    assert [str(c.partition.dt) for c in report.compacted] == days
    assert report.events == len(reqs) and report.duplicates_dropped == 0
    for day in days:
        folder = f"{PARQUET}event_name=IMAGE_REQUESTED/dt={day}/"
        names = [k.removeprefix(folder) for k in store.list(folder)]
        assert len(names) == 2 and "_manifest.json" in names
        (part,) = [n for n in names if n.startswith("part-") and n.endswith(".parquet")]
        meta = pq.read_metadata(io.BytesIO(store.get(folder + part)))
        assert meta.num_rows == by_day(reqs)[day][0]
        assert meta.row_group(0).column(0).compression == "ZSTD"
        # Another engine reads every value back (format V2 pages, delta encodings).
        table = pq.read_table(io.BytesIO(store.get(folder + part))).to_pylist()
        read = sorted((row["user_id"], row["image_id"], row["timestamp"]) for row in table)
        sent = [(r.user, r.image, r.at.replace(tzinfo=None)) for r in reqs]
        assert read == sorted(row for row in sent if str(row[2].date()) == day)
    assert parquet_rows(store) == len(reqs)


def test_redelivered_events_are_counted_once(store: BlobStore, analytics: Analytics) -> None:
    reqs = requests(40)
    bodies = [r.body for r in reqs]
    archive(store, bodies)
    archive(store, bodies[:10] + bodies[5:15])  # redeliveries, even twice within a batch
    # Same event_id, different bytes: the same event, archived again.
    archive(store, [payload("u", "img", reqs[0].at, event_id="e-1")])
    archive(store, [payload("u", "img", reqs[0].at, event_id="e-1", retry=True)])
    expected = len(reqs) + 1

    before = analytics.summary(Filters())
    report = LakeCompactor(store, DuckDBEngine()).compact()

    assert before.requests == expected
    assert report.events == expected
    assert report.duplicates_dropped == 20 + 1
    assert parquet_rows(store) == expected
    assert analytics.summary(Filters()).requests == expected


def test_a_second_run_changes_nothing(store: BlobStore) -> None:
    archive(store, [r.body for r in requests(200)])
    LakeCompactor(store, DuckDBEngine()).compact()
    lake = snapshot_of(store, "events/")

    report = LakeCompactor(store, DuckDBEngine()).compact()

    assert report.compacted == [] and report.up_to_date == len(by_day(requests(200)))
    assert snapshot_of(store, "events/") == lake


def test_queries_agree_with_the_events_before_during_and_after_compaction(
    store: BlobStore, analytics: Analytics
) -> None:
    reqs = requests(500)
    for i in range(0, len(reqs), 60):
        archive(store, [r.body for r in reqs[i : i + 60]])
    archive(store, [r.body for r in reqs[100:130]])  # redelivered
    raw_only = answers(analytics)

    LakeCompactor(store, DuckDBEngine()).compact(
        date(2021, 7, 11)
    )  # one day compacted, the others raw
    mixed = answers(analytics)
    LakeCompactor(store, DuckDBEngine()).compact()
    compacted = answers(analytics)

    assert raw_only == mixed == compacted
    expected_days = {d: counts for d, counts in by_day(reqs).items()}
    assert {str(r.day): (r.requests, r.unique_users, r.unique_images) for r in raw_only["day"]} == (
        expected_days
    )
    images = {r.image_id: (r.requests, r.unique_users) for r in raw_only["image"]}
    assert images == image_counts(reqs)
    users = {r.user_id: (r.requests, r.unique_images) for r in raw_only["user"]}
    assert users == user_counts(reqs)
    # These events name no variant (nor an older size): all of them under "unknown".
    kinds = [(v.variant, v.requests, v.unique_users, v.unique_images) for v in raw_only["variant"]]
    assert kinds == [("unknown", len(reqs), len(user_counts(reqs)), len(image_counts(reqs)))]
    summary = raw_only["summary"]
    assert (summary.requests, summary.images, summary.users) == (
        len(reqs),
        len(image_counts(reqs)),
        len(user_counts(reqs)),
    )
    assert (summary.first_request_at, summary.last_request_at) == (reqs[0].at, reqs[-1].at)


def test_a_late_batch_is_counted_at_once_and_merged_by_the_next_run(
    store: BlobStore, analytics: Analytics
) -> None:
    reqs = requests(300)
    archive(store, [r.body for r in reqs])
    LakeCompactor(store, DuckDBEngine()).compact()
    day = reqs[0].at.date()
    late = [payload("late-user", "image-1", reqs[0].at + timedelta(seconds=1))]
    archive(store, [*late, reqs[0].body])  # a new event, and a redelivery of a compacted one

    assert analytics.summary(Filters()).requests == len(reqs) + 1  # raw batch read, no twice
    report = LakeCompactor(store, DuckDBEngine()).compact()

    assert [c.partition.dt for c in report.compacted] == [day]
    assert report.compacted[0].new_objects == 1 and report.duplicates_dropped == 1
    folder = f"{PARQUET}event_name=IMAGE_REQUESTED/dt={day}/"
    assert len([k for k in store.list(folder) if k.endswith(".parquet")]) == 1  # old one gone
    assert analytics.summary(Filters()).requests == len(reqs) + 1
    assert parquet_rows(store) == len(reqs) + 1


def test_the_running_hour_stays_raw_until_it_closes(store: BlobStore) -> None:
    noon = datetime(2021, 7, 11, 12, 0, tzinfo=UTC)
    archive(store, [payload("a", "i", noon - timedelta(minutes=5))])  # 11:55, closed at 12:00
    archive(store, [payload("b", "i", noon + timedelta(minutes=5))])  # 12:05, still open
    compactor = LakeCompactor(store, DuckDBEngine(), clock=lambda: noon + timedelta(minutes=30))

    report = compactor.compact()
    assert (report.events, report.open_objects) == (1, 1)

    report = compactor.compact(all_hours=True)
    assert (report.events, report.open_objects) == (2, 0)


def test_filters_pick_days_and_images(store: BlobStore, analytics: Analytics) -> None:
    reqs = requests(500)
    archive(store, [r.body for r in reqs])
    LakeCompactor(store, DuckDBEngine()).compact(date(2021, 7, 12))
    chosen = [r for r in reqs if date(2021, 7, 11) <= r.at.date() <= date(2021, 7, 12)]

    window = Filters(since=date(2021, 7, 11), until=date(2021, 7, 12))
    days = analytics.by_day(window)
    one_image = analytics.by_day(Filters(image_id="image-4"))

    assert {str(r.day): (r.requests, r.unique_users, r.unique_images) for r in days} == by_day(
        chosen
    )
    assert analytics.summary(window).requests == len(chosen)
    image_4 = [r for r in reqs if r.image == "image-4"]
    assert [(str(r.day), r.requests) for r in one_image] == [
        (d, n) for d, (n, _, _) in by_day(image_4).items()
    ]
    assert analytics.summary(Filters(since=date(2030, 1, 1))).requests == 0
    with pytest.raises(InvalidInput):
        Filters(since=date(2021, 7, 12), until=date(2021, 7, 11))


def test_top_rows_are_ranked_by_requests(store: BlobStore, analytics: Analytics) -> None:
    reqs = requests(300)
    archive(store, [r.body for r in reqs])
    images, users = image_counts(reqs), user_counts(reqs)

    top_images = analytics.top_images(Filters(), top=3)
    top_users = analytics.top_users(Filters(), top=2)

    assert [r.requests for r in top_images] == sorted((n for n, _ in images.values()))[::-1][:3]
    assert [r.requests for r in top_users] == sorted((n for n, _ in users.values()))[::-1][:2]
    for row in top_images:
        assert (row.requests, row.unique_users) == images[row.image_id]
        assert row.last_requested_at == max(r.at for r in reqs if r.image == row.image_id)
    for urow in top_users:
        assert (urow.requests, urow.unique_images) == users[urow.user_id]
    with pytest.raises(InvalidInput):
        analytics.top_images(Filters(), top=0)


def test_parts_fingerprinted_by_another_duckdb_are_read_and_rewritten(
    store: BlobStore, analytics: Analytics, tmp_path: Path
) -> None:
    reqs = requests(200)
    archive(store, [r.body for r in reqs])
    LakeCompactor(store, DuckDBEngine()).compact()
    expected = answers(analytics)
    partition = Partition("IMAGE_REQUESTED", reqs[0].at.date())
    manifest = Manifest.from_bytes(store.get(partition.manifest_key), "m")
    forged = Manifest(
        manifest.part, manifest.events, manifest.users, manifest.images, 12345, manifest.raw
    )
    store.put(partition.manifest_key, forged.to_bytes(), "application/json")

    fresh_reader = Analytics(
        store, DuckDBEngine(), tmp_path / "cache2"
    )  # one that never saw the real one
    assert answers(fresh_reader) == expected  # its fingerprints are recomputed on read
    report = LakeCompactor(store, DuckDBEngine()).compact()

    assert [c.partition for c in report.compacted] == [partition]
    assert Manifest.from_bytes(store.get(partition.manifest_key), "m").fingerprint != 12345
    assert answers(analytics) == expected


def test_an_empty_lake_answers_zero(analytics: Analytics) -> None:
    assert analytics.by_day(Filters()) == []
    assert analytics.requests(GroupBy.image, Filters()) == []
    summary = analytics.summary(Filters())
    assert (summary.requests, summary.first_request_at) == (0, None)


def test_a_part_left_by_a_crash_is_ignored_then_removed(
    store: BlobStore, analytics: Analytics
) -> None:
    reqs = requests(100)
    archive(store, [r.body for r in reqs])
    LakeCompactor(store, DuckDBEngine()).compact()
    partition = Partition("IMAGE_REQUESTED", reqs[0].at.date())
    manifest = Manifest.from_bytes(store.get(partition.manifest_key), "m")
    orphan = partition.parquet_prefix + "part-crashed.parquet"  # written, never named
    store.put(orphan, store.get(manifest.part_key(partition)), "application/vnd.apache.parquet")

    assert analytics.summary(Filters()).requests == len(reqs)
    LakeCompactor(
        store, DuckDBEngine()
    ).compact()  # too young: it may be another run's, about to be named
    assert orphan in set(store.list(partition.parquet_prefix))
    later = datetime.now(UTC) + timedelta(hours=2)
    LakeCompactor(store, DuckDBEngine(), clock=lambda: later).compact()

    assert orphan not in set(store.list(partition.parquet_prefix))
    assert manifest.part_key(partition) in set(store.list(partition.parquet_prefix))
    assert analytics.summary(Filters()).requests == len(reqs)


def test_temp_files_on_another_filesystem_than_the_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tmpfs /tmp (Debian 13's default) next to data on disk: raw batches must still reach
    DuckDB for queries and compaction (a kernel copy between them once failed with EXDEV)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a filesystem of its own")
    scratch = shm / f"imagelake-test-{tmp_path.name}"
    scratch.mkdir()
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        store = LocalBlobStore(tmp_path / "lake", BASE_URL, SIGNER)
        reqs = requests(200)
        archive(store, [r.body for r in reqs[:120]])
        archive(store, [r.body for r in reqs[100:]])  # 20 redelivered
        analytics = Analytics(store, DuckDBEngine(), tmp_path / "cache", threads=2)

        assert analytics.summary(Filters()).requests == len(reqs)
        report = LakeCompactor(store, DuckDBEngine()).compact()
        assert (report.events, report.duplicates_dropped) == (len(reqs), 20)
        assert analytics.summary(Filters()).requests == len(reqs)
        assert list(scratch.iterdir()) == []  # every temporary file cleaned up
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.parametrize("in_place_bytes", [0, 1_000, 10**9], ids=["in-place", "mixed", "copied"])
def test_batches_read_in_place_or_copied_count_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_place_bytes: int
) -> None:
    """Large batches of the embedded store are read where they lie, small ones gathered."""
    monkeypatch.setattr(lake_files, "IN_PLACE_BYTES", in_place_bytes)
    store = LocalBlobStore(tmp_path / "lake", BASE_URL, SIGNER)
    analytics = Analytics(store, DuckDBEngine(), tmp_path / "cache", threads=2)
    reqs = requests(400)
    start = 0
    for size in (1, 5, 30, 60, 2, 100, 3, 199):  # files of 1 to 9 lines, one per hour
        archive(store, [r.body for r in reqs[start : start + size]])
        start += size
    archive(store, [r.body for r in reqs[90:150]])  # 60 redelivered, in files of many lines
    archive(store, [r.body for r in reqs[7:9]])  # and 2 in a small one
    expected = {d: counts for d, counts in by_day(reqs).items()}

    def days() -> dict[str, tuple[int, int, int]]:
        rows = analytics.by_day(Filters())
        return {str(r.day): (r.requests, r.unique_users, r.unique_images) for r in rows}

    assert days() == expected
    report = LakeCompactor(store, DuckDBEngine()).compact()
    assert (report.events, report.duplicates_dropped) == (len(reqs), 62)
    assert days() == expected
    assert parquet_rows(store) == len(reqs)


class SlowToStoreParts(MemoryBlobStore):
    """Holds each part's upload open until another partition's DuckDB work begins."""

    def __init__(self, partitions: int) -> None:
        super().__init__(BASE_URL, SIGNER)
        self.partitions = partitions
        self.started = 0  # partitions whose DuckDB work has begun
        self.changed = threading.Condition()
        self.overlapped = 0  # uploads during which another partition's work began

    def build_started(self) -> None:
        with self.changed:
            self.started += 1
            self.changed.notify_all()

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        with self.changed:
            seen = self.started
            if seen < self.partitions and self.changed.wait_for(
                lambda: self.started > seen, timeout=5
            ):
                self.overlapped += 1
        super().put_file(key, path, content_type)


@pytest.mark.parametrize("threads", [1, 2])
def test_storing_parts_overlaps_duckdb_work_which_never_exceeds_threads(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """`threads` bounds the DuckDB work; a slow upload does not hold a slot meanwhile."""
    reqs = requests(2400)
    days = len(by_day(reqs))
    store = SlowToStoreParts(days)
    archive(store, [r.body for r in reqs])
    running, most = 0, 0
    lock = threading.Lock()
    write_part = lake._write_part

    def counted(*args: Any) -> tuple[int, int, int, int]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        store.build_started()
        try:
            return write_part(*args)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(lake, "_write_part", counted)
    report = LakeCompactor(store, DuckDBEngine(), threads=threads).compact()

    assert report.events == len(reqs) and len(report.compacted) == days > 2 * threads
    assert most == threads
    # Every upload but the last few (which may find every partition's work begun already).
    assert store.overlapped >= days - 2 * threads
