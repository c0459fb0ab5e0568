"""Where the event lake keeps things: raw JSONL batches, Parquet parts and their manifests.

events/raw/event_name=N/dt=D/hour=HH/<batch>.jsonl      written by the monitor, kept
events/parquet/event_name=N/dt=D/part-<hash>.parquet    one deduplicated part per day
events/parquet/event_name=N/dt=D/_manifest.json         the part, and which raw batches
                                                        it covers (Athena skips `_` files)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from imagelake.domain.errors import BackendError, NotFound
from imagelake.lake.archive import RAW_PREFIX
from imagelake.ports import BlobStore

PARQUET_PREFIX = "events/parquet"
MANIFEST_NAME = "_manifest.json"
MANIFEST_FORMAT = 1
DAY_BY_DAY_LISTING = 62  # days; longer ranges list the whole raw prefix once
MANIFEST_READERS = 8  # object stores answer one GET at a time per connection
_RAW_KEY = re.compile(
    r"^events/raw/event_name=(?P<name>[A-Z_]+)/dt=(?P<dt>\d{4}-\d{2}-\d{2})"
    r"/hour=(?P<hour>\d{2})/[^/]+\.jsonl$"
)
_PART_KEY = re.compile(
    r"^events/parquet/event_name=(?P<name>[A-Z_]+)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/part-[^/]+$"
)


@dataclass(frozen=True, order=True)
class Partition:
    event_name: str
    dt: date

    @property
    def raw_prefix(self) -> str:
        return f"{RAW_PREFIX}/event_name={self.event_name}/dt={self.dt}/"

    @property
    def parquet_prefix(self) -> str:
        return f"{PARQUET_PREFIX}/event_name={self.event_name}/dt={self.dt}/"

    @property
    def manifest_key(self) -> str:
        return self.parquet_prefix + MANIFEST_NAME


@dataclass(frozen=True)
class RawObject:
    key: str
    partition: Partition
    hour: int

    def closed_by(self, moment: datetime) -> bool:
        """True once the hour this batch belongs to has ended at moment (time zone aware)."""
        day = self.partition.dt
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        # Not start + hours <= moment: the end of 9999-12-31 is past the last datetime.
        return moment - start >= timedelta(hours=self.hour + 1)


def parse_raw_key(key: str) -> RawObject | None:
    """The partition and hour of a raw archive key; None for anything else under the prefix."""
    match = _RAW_KEY.match(key)
    if match is None:
        return None
    try:
        day = date.fromisoformat(match["dt"])
    except ValueError:
        return None
    return RawObject(key, Partition(match["name"], day), int(match["hour"]))


def parse_part_key(key: str) -> Partition | None:
    """The partition of a Parquet part's key; None for anything else under the prefix."""
    match = _PART_KEY.match(key)
    if match is None:
        return None
    try:
        return Partition(match["name"], date.fromisoformat(match["dt"]))
    except ValueError:
        return None


def part_name(raw_keys: Iterable[str]) -> str:
    """A part's name follows from the raw batches it covers, so a rerun writes the same one."""
    digest = hashlib.sha256("\n".join(sorted(raw_keys)).encode()).hexdigest()
    return f"part-{digest[:20]}.parquet"


@dataclass(frozen=True)
class Manifest:
    part: str  # file name inside the partition folder
    events: int  # distinct events in the part
    users: int  # distinct user ids among them
    images: int  # distinct image ids among them
    fingerprint: int  # the DuckDB hash probe the part's *_key columns were made with
    raw: tuple[str, ...]  # every raw batch key the part covers, sorted

    def part_key(self, partition: Partition) -> str:
        return partition.parquet_prefix + self.part

    def to_bytes(self) -> bytes:
        body = {"format": MANIFEST_FORMAT, **dataclasses.asdict(self), "raw": list(self.raw)}
        return json.dumps(body, indent=0).encode()

    @classmethod
    def from_bytes(cls, data: bytes, key: str) -> Manifest:
        try:
            body = json.loads(data)
            return cls(
                part=str(body["part"]),
                events=int(body["events"]),
                users=int(body["users"]),
                images=int(body["images"]),
                fingerprint=int(body["fingerprint"]),
                raw=tuple(map(str, body["raw"])),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"unreadable lake manifest {key!r}: {exc}") from exc


def read_manifest(store: BlobStore, partition: Partition) -> Manifest | None:
    try:
        data = store.get(partition.manifest_key)
    except NotFound:
        return None
    return Manifest.from_bytes(data, partition.manifest_key)


@dataclass
class LakeSnapshot:
    """What a reader sees at one moment: the compacted part and the uncovered raw batches."""

    manifests: dict[Partition, Manifest] = field(default_factory=dict)
    fresh: dict[Partition, list[str]] = field(default_factory=dict)

    def only(self, partitions: Iterable[Partition]) -> LakeSnapshot:
        wanted = set(partitions)
        return LakeSnapshot(
            {p: m for p, m in self.manifests.items() if p in wanted},
            {p: keys for p, keys in self.fresh.items() if p in wanted},
        )

    def fresh_keys(self) -> list[str]:
        return [key for _, keys in sorted(self.fresh.items()) for key in keys]

    def overlap_part_keys(self) -> list[str]:
        """Parts of the partitions that also have uncovered raw batches."""
        return [m.part_key(p) for p, m in sorted(self.manifests.items()) if p in self.fresh]


def snapshot(
    store: BlobStore,
    event_name: str,
    since: date | None = None,
    until: date | None = None,
    known: Mapping[str, Manifest] | None = None,
) -> LakeSnapshot:
    """The lake's current parts and uncovered raw batches for one event name and date range.

    known: manifests read before, by the key of their part.
    """
    known = known or {}
    by_folder: dict[str, list[str]] = defaultdict(list)
    for prefix in _raw_prefixes(event_name, since, until):
        for key in store.list(prefix):
            by_folder[key.rpartition("/hour=")[0]].append(key)  # cheap: no parse per key
    raw: dict[Partition, list[str]] = {}
    for keys in by_folder.values():
        valid = [k for k in keys if _RAW_KEY.match(k)]
        obj = parse_raw_key(valid[0]) if valid else None
        if obj is not None and _within(obj.partition.dt, since, until):
            raw[obj.partition] = valid
    folders: dict[Partition, list[str]] = defaultdict(list)
    for key in store.list(f"{PARQUET_PREFIX}/event_name={event_name}/"):
        day = _dt_of(key)
        if day is not None and _within(day, since, until):
            folders[Partition(event_name, day)].append(key)

    def manifest_of(partition: Partition) -> Manifest | None:
        keys = folders[partition]
        if partition.manifest_key not in keys:
            return None
        parts = [k for k in keys if k.rsplit("/", 1)[1].startswith("part-")]
        # A part's name follows from the batches it covers, so while it is the folder's
        # only part its manifest can be reused: no GET per partition per query.
        if len(parts) == 1 and parts[0] in known:
            return known[parts[0]]
        return read_manifest(store, partition)

    state = LakeSnapshot()
    with ThreadPoolExecutor(MANIFEST_READERS) as pool:  # object stores answer GETs slowly
        for partition, manifest in zip(folders, pool.map(manifest_of, folders), strict=True):
            if manifest is not None:
                state.manifests[partition] = manifest
    for partition, keys in raw.items():
        covered = set(state.manifests[partition].raw) if partition in state.manifests else set()
        fresh = [k for k in keys if k not in covered]
        if fresh:
            state.fresh[partition] = fresh
    return state


def _raw_prefixes(event_name: str, since: date | None, until: date | None) -> list[str]:
    """What to list for a date range: day by day when short (the raw archive only grows)."""
    if since is None or until is None or (until - since).days >= DAY_BY_DAY_LISTING:
        return [f"{RAW_PREFIX}/event_name={event_name}/"]
    days = (since + timedelta(days=n) for n in range((until - since).days + 1))
    return [Partition(event_name, day).raw_prefix for day in days]


def _dt_of(key: str) -> date | None:
    match = re.search(r"/dt=(\d{4}-\d{2}-\d{2})/", key)
    if match is None:
        return None
    try:
        return date.fromisoformat(match[1])
    except ValueError:
        return None


def _within(day: date, since: date | None, until: date | None) -> bool:
    return (since is None or day >= since) and (until is None or day <= until)
