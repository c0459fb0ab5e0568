"""Compaction: raw JSONL batches rewritten as one deduplicated, zstd Parquet part per day.

The raw archive stays the source of truth. A partition's manifest names the raw batches its
part covers; a batch that arrives later (a late event, a redelivery) is merged into a new
part on the next run, and a run that finds nothing new writes nothing. A batch DuckDB cannot
read is quarantined (lake/quarantine.py) and its partition compacted without it.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from imagelake.domain.errors import BackendError, ImagelakeError, UnreadableData
from imagelake.domain.events import EventName
from imagelake.lake.archive import RAW_PREFIX
from imagelake.lake.files import (
    COLUMNS,
    PartFiles,
    dedupe_hashed_sql,
    gather,
    hashed_sql,
    parts_sql,
    raw_sql,
)
from imagelake.lake.layout import (
    PARQUET_PREFIX,
    Manifest,
    Partition,
    RawObject,
    parse_part_key,
    parse_raw_key,
    part_name,
    read_manifest,
)
from imagelake.lake.quarantine import PART_CHECK, UNANSWERABLE, Quarantine, SetAside
from imagelake.ports import BlobStore, LakeConnection, LakeEngine

log = logging.getLogger(__name__)
ORPHAN_AGE = timedelta(hours=1)  # younger unreferenced parts may belong to a running compaction
ROW_GROUP_SIZE = 122_880
# Dictionary-encode only what repeats: trying it on the unique keys is wasted work.
DICTIONARY_LIMIT = 100
# Format V2 pages: delta encodings write faster than V1's plain ones, and smaller.
# DuckDB, pyarrow, Trino and Athena engine v3, and Spark 3.4+ read them.
PARQUET_OPTIONS = (
    f"FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE {ROW_GROUP_SIZE}, "
    f"DICTIONARY_SIZE_LIMIT {DICTIONARY_LIMIT}, PARQUET_VERSION V2"
)


@dataclass(frozen=True)
class CompactedPartition:
    partition: Partition
    raw_objects: int  # raw batches the new part covers
    new_objects: int  # of which were not covered before
    events: int
    duplicates_dropped: int


@dataclass
class CompactionReport:
    compacted: list[CompactedPartition] = field(default_factory=list)
    up_to_date: int = 0  # partitions whose part already covered every closed batch
    open_objects: int = 0  # batches of hours not yet closed, left for a later run
    quarantined: list[str] = field(default_factory=list)  # raw batches DuckDB could not read
    seconds: float = 0.0

    @property
    def events(self) -> int:
        return sum(c.events for c in self.compacted)

    @property
    def lines_read(self) -> int:
        return sum(c.events + c.duplicates_dropped for c in self.compacted)

    @property
    def duplicates_dropped(self) -> int:
        return sum(c.duplicates_dropped for c in self.compacted)


class LakeCompactor:
    """Compacts partitions `threads` at a time (default: one per core).

    Each partition's DuckDB work holds one of `threads` slots; fetching its raw batches and
    storing its part (an fsync, or an upload) do not, so as many again run beside them.
    """

    def __init__(
        self,
        archive: BlobStore,
        engine: LakeEngine,
        threads: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._archive = archive
        self._parallel = threads or os.cpu_count() or 1
        self._clock = clock
        self._engine = engine
        self._quarantine = Quarantine(archive, clock)

    @functools.cached_property
    def _fingerprint(self) -> int:
        return self._engine.fingerprint_probe()  # on first use: it starts the engine

    def compact(self, day: date | None = None, all_hours: bool = False) -> CompactionReport:
        """Compact every partition (or one day's) whose closed hours hold uncovered batches.

        An hour is closed once it has ended; all_hours compacts the running hour too.
        """
        started = time.perf_counter()
        now = self._clock()
        report = CompactionReport()
        work = []
        for partition, objects in sorted(self._raw_partitions(day).items()):
            ready = [o.key for o in objects if all_hours or o.closed_by(now)]
            report.open_objects += len(objects) - len(ready)
            if ready:
                work.append((partition, ready))
        # Partitions side by side, one DuckDB thread each (DuckDB's JSON reading scales poorly
        # across threads within one query), and the I/O of as many again around them.
        duckdbs = _Connections(self._engine, self._parallel)
        try:
            with ThreadPoolExecutor(2 * self._parallel) as pool:
                compacted = pool.map(lambda item: self._compact_partition(duckdbs, *item), work)
                for result, quarantined in compacted:
                    report.quarantined += quarantined
                    if result is None:
                        report.up_to_date += 1
                    else:
                        report.compacted.append(result)
        finally:
            duckdbs.close()
        self._sweep_orphans(day)
        report.seconds = time.perf_counter() - started
        return report

    def _compact_partition(
        self, duckdbs: _Connections, partition: Partition, raw_keys: list[str]
    ) -> tuple[CompactedPartition | None, list[str]]:
        """_merge(), without the batches DuckDB cannot read: (its result, those batches)."""
        quarantined: list[str] = []
        while True:  # each turn sets a batch aside, or ends
            try:
                return self._merge(duckdbs, partition, raw_keys), quarantined
            except SetAside as found:
                quarantined += found.keys
                raw_keys = [key for key in raw_keys if key not in found.keys]

    def _merge(
        self, duckdbs: _Connections, partition: Partition, raw_keys: list[str]
    ) -> CompactedPartition | None:
        """Merge raw_keys into the partition's part; None when they are all covered already."""
        manifest = read_manifest(self._archive, partition)
        covered = set(manifest.raw) if manifest else set()
        new = sorted(set(raw_keys) - covered)
        if not new and (manifest is None or manifest.fingerprint == self._fingerprint):
            return None
        keys = tuple(sorted(covered | set(new)))
        name = part_name(keys)
        replaced = [manifest.part_key(partition)] if manifest else []
        with tempfile.TemporaryDirectory(prefix="imagelake-compact-") as tmp:
            raw_file, target = Path(tmp) / "raw.jsonl", Path(tmp) / "part.parquet"
            raw = gather(self._archive, new, raw_file)
            old = PartFiles(self._archive, Path(tmp) / "parts").paths(replaced)
            what = f"{partition.event_name} dt={partition.dt}"
            with duckdbs.hold() as con:
                try:
                    read, *stats = _write_part(con, what, raw, old, target)
                except UnreadableData:
                    self._quarantine.set_aside(con, new)  # only now: one read per batch
                    raise
            part_key = partition.parquet_prefix + name
            self._archive.put_file(part_key, target, "application/vnd.apache.parquet")
        events, users, images = stats
        written = Manifest(name, events, users, images, self._fingerprint, keys)
        self._archive.put(partition.manifest_key, written.to_bytes(), "application/json")
        self._remove_stale_parts(partition, part_key, replaced)
        log.info("compacted %s dt=%s: %d events", partition.event_name, partition.dt, events)
        return CompactedPartition(partition, len(keys), len(new), events, read - events)

    def _raw_partitions(self, day: date | None) -> dict[Partition, list[RawObject]]:
        found: dict[Partition, list[RawObject]] = defaultdict(list)
        prefixes = [RAW_PREFIX + "/"]
        if day is not None:
            prefixes = [Partition(name, day).raw_prefix for name in EventName]
        for prefix in prefixes:
            for key in self._archive.list(prefix):
                obj = parse_raw_key(key)
                if obj is not None and (day is None or obj.partition.dt == day):
                    found[obj.partition].append(obj)
        return found

    def _sweep_orphans(self, day: date | None) -> None:
        """Parts no manifest names (a crash between part and manifest), in days with two."""
        parts: dict[Partition, list[str]] = defaultdict(list)
        for key in self._archive.list(PARQUET_PREFIX + "/"):
            partition = parse_part_key(key)
            if partition is not None and (day is None or partition.dt == day):
                parts[partition].append(key)
        for partition, keys in parts.items():
            manifest = read_manifest(self._archive, partition) if len(keys) > 1 else None
            if manifest is not None:
                self._remove_stale_parts(partition, manifest.part_key(partition), [])

    def _remove_stale_parts(self, partition: Partition, keep: str, replaced: list[str]) -> None:
        """Drop the part just replaced, and orphans of crashed runs once they are old enough.

        A young unreferenced part may be another compaction's, about to be named.
        """
        cutoff = self._clock() - ORPHAN_AGE
        for key in self._archive.list(partition.parquet_prefix):
            if key == keep or not key.rsplit("/", 1)[-1].startswith("part-"):
                continue
            try:
                if key in replaced or self._archive.head(key).modified < cutoff:
                    self._archive.delete(key)
            except ImagelakeError as exc:  # cleanup is best effort; the manifest is what counts
                log.warning("could not remove stale lake part %s: %s", key, exc)


class _Connections:
    """`size` DuckDB connections, each opened when first needed (tens of ms) and reused.

    Holding one is the right to run DuckDB work: never more than `size` partitions at once.
    """

    def __init__(self, engine: LakeEngine, size: int) -> None:
        self._engine = engine
        self._idle: queue.SimpleQueue[LakeConnection | None] = queue.SimpleQueue()
        for _ in range(size):
            self._idle.put(None)
        self._opened: list[LakeConnection] = []

    @contextmanager
    def hold(self) -> Iterator[LakeConnection]:
        con = self._idle.get()
        try:
            if con is None:
                con = self._engine.connect(1)
                self._opened.append(con)
            yield con
        finally:
            self._idle.put(con)

    def close(self) -> None:
        for con in self._opened:
            con.close()


def _write_part(
    con: LakeConnection, what: str, raw: list[str], old: list[str], target: Path
) -> tuple[int, int, int, int]:
    """Dedupe raw lines plus an older part into target: (rows read, events, users, images)."""
    sources = raw_sql("$raw")
    params: dict[str, object] = {"raw": raw}
    if old:
        sources += f" UNION ALL SELECT {COLUMNS} FROM ({parts_sql('$old')})"
        params["old"] = old
    quoted = f"'{target}'"
    part = f"read_parquet({quoted})"
    try:
        # Read once into a table the dedupe reads twice; its row count is the lines read
        # (a MATERIALIZED CTE would leave no such count).
        read = con.execute(
            f"CREATE OR REPLACE TEMP TABLE incoming AS {hashed_sql(sources)}", params
        )
        events = con.execute(
            f"COPY ({dedupe_hashed_sql('incoming')}) TO '{target}' ({PARQUET_OPTIONS})"
        )
        # One DISTINCT per column: cheaper than two count(DISTINCT) in one scan.
        distinct = con.execute(
            f"SELECT (SELECT count(*) FROM (SELECT DISTINCT user_key FROM {part})), "
            f"(SELECT count(*) FROM (SELECT DISTINCT image_key FROM {part})), "
            f"({PART_CHECK.format(part=quoted)})"
        )
    except BackendError as exc:
        raise type(exc)(f"compact {what}: {exc}") from exc
    finally:
        con.execute("DROP TABLE IF EXISTS incoming")
    if distinct[0][2]:  # from the footer's statistics: no row is read again
        raise UnreadableData(f"compact {what}: {UNANSWERABLE}")
    return int(read[0][0]), int(events[0][0]), int(distinct[0][0]), int(distinct[0][1])
