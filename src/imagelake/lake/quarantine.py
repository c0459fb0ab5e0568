"""Raw batches the lake's engine cannot read, set aside so that they never stop analytics.

The raw archive is never rewritten, with one exception: a batch the engine cannot read (a
corrupt or oversized line, bytes that are not UTF-8, a timestamp out of range) is moved to
events/quarantine/<its key below events/>, beside a <that key>.reason.json saying why and
when. Copied first, then deleted: a crash between the two leaves both, and the next failed
read moves it again. Finding such a batch reads each batch of a failed read on its own,
which costs nothing until a read has failed.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from imagelake.domain.errors import NotFound, UnreadableData
from imagelake.lake.archive import CONTENT_TYPE
from imagelake.lake.files import gather, raw_sql
from imagelake.ports import BlobStore, LakeConnection

log = logging.getLogger(__name__)
QUARANTINE_PREFIX = "events/quarantine"
REASON_SUFFIX = ".reason.json"
# What every answer needs of a line, though DuckDB reads it without them: these fields, and
# a timestamp Python's datetime can hold (it ends with year 9999; DuckDB's goes on).
NEEDED = ("key", "user_id", "image_id", '"timestamp"')
FIRST, END = "TIMESTAMP '0001-01-01'", "TIMESTAMP '10000-01-01'"
LACKS = "a line lacks one of key, user_id, image_id, timestamp"
OUTSIDE = "is outside years 1 to 9999"
# Every column the lake reads, converted and checked: whatever fails a read fails this one.
PROBE = (
    f"SELECT count(received_at), count(CASE WHEN {' OR '.join(f'{c} IS NULL' for c in NEEDED)} "
    f"THEN error('{LACKS}') "
    f'WHEN "timestamp" < {FIRST} OR "timestamp" >= {END} '
    f"THEN error('timestamp ' || \"timestamp\" || ' {OUTSIDE}') ELSE 1 END) "
    f"FROM ({raw_sql('$batch')})"
)
# The same check on a Parquet part just written, from its footer's statistics alone.
PART_CHECK = (
    "SELECT count(*) FROM parquet_metadata({part}) WHERE (stats_null_count > 0 AND "
    f"path_in_schema IN ('key', 'user_id', 'image_id', 'timestamp')) "
    f"OR (path_in_schema = 'timestamp' AND (TRY_CAST(stats_min_value AS TIMESTAMP) < {FIRST} "
    f"OR TRY_CAST(stats_max_value AS TIMESTAMP) >= {END}))"
)
UNANSWERABLE = f"{LACKS}, or a timestamp {OUTSIDE}"


@dataclass(frozen=True)
class QuarantinedBatch:
    key: str  # where the batch was in the raw archive
    reason: str
    quarantined_at: datetime | None  # None when its reason file is missing
    bytes: int


class SetAside(Exception):
    """Raw batches were quarantined: the read that failed may be tried again without them."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(keys)
        self.keys = keys


def quarantine_key(raw_key: str) -> str:
    return f"{QUARANTINE_PREFIX}/{raw_key.removeprefix('events/')}"


class Quarantine:
    def __init__(
        self, store: BlobStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._clock = clock

    def isolate(self, con: LakeConnection, keys: Sequence[str]) -> list[str]:
        """Read each raw batch alone; quarantine those the engine cannot read; their keys."""
        found: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="imagelake-probe-") as tmp:
            for n, key in enumerate(keys):
                reason = self._probe(con, key, Path(tmp) / f"{n}.jsonl")
                if reason is not None:
                    found[key] = reason
        for key, reason in found.items():
            self.move(key, reason)
        return list(found)

    def set_aside(self, con: LakeConnection, keys: Sequence[str]) -> None:
        """isolate(), raising SetAside when it quarantined any batch."""
        found = self.isolate(con, keys)
        if found:
            raise SetAside(found)

    def _probe(self, con: LakeConnection, key: str, scratch: Path) -> str | None:
        """Why the engine cannot read the batch; None if it can, or if it is gone."""
        try:
            files = gather(self._store, [key], scratch)
        except NotFound:
            return None  # quarantined meanwhile by another reader
        try:
            con.execute(PROBE, {"batch": files})
        except UnreadableData as exc:
            reason = str(exc).splitlines()[0]  # the rest is advice on read_json's options
            for file in files:  # the batch's key, not a temporary file's name
                reason = reason.replace(file, key)
            return reason if key in reason else f"{key}: {reason}"
        finally:
            scratch.unlink(missing_ok=True)
        return None

    def move(self, key: str, reason: str) -> None:
        """Copy the raw batch into quarantine with its reason, then delete it from raw/."""
        target = quarantine_key(key)
        try:
            size = self._store.head(key).size
            path = self._store.local_path(key)
            if path is not None:  # a local store hard-links it: no copy of a 40 MB batch
                self._store.put_file(target, path, CONTENT_TYPE)
            else:
                self._store.put(target, self._store.get(key), CONTENT_TYPE)
        except NotFound:
            return
        note = {"key": key, "reason": reason, "quarantined_at": self._clock().isoformat()}
        body = json.dumps({**note, "bytes": size}, indent=1).encode()
        self._store.put(target + REASON_SUFFIX, body, "application/json")
        self._store.delete(key)
        log.warning("quarantined raw batch %s as %s: %s", key, target, reason)

    def entries(self) -> list[QuarantinedBatch]:
        """Every quarantined batch, by key."""
        return [self._entry(key) for key in self._batch_keys()]

    def count(self) -> int:
        return len(self._batch_keys())

    def _batch_keys(self) -> list[str]:
        keys = self._store.list(QUARANTINE_PREFIX + "/")
        return [key for key in keys if not key.endswith(REASON_SUFFIX)]

    def _entry(self, target: str) -> QuarantinedBatch:
        key = "events/" + target.removeprefix(QUARANTINE_PREFIX + "/")
        try:
            note = json.loads(self._store.get(target + REASON_SUFFIX))
            when = datetime.fromisoformat(note["quarantined_at"])
            return QuarantinedBatch(key, str(note["reason"]), when, int(note["bytes"]))
        except (NotFound, ValueError, KeyError, TypeError):
            size = self._store.head(target).size
            return QuarantinedBatch(key, "unknown: its reason file is missing", None, size)
