"""How lake objects reach DuckDB, and the SQL pieces compaction and queries share.

DuckDB's S3 support (httpfs) is an extension it downloads at run time, which an offline
machine cannot do; so every object reaches DuckDB as a local file, through the BlobStore
port. Small raw batches are gathered into one JSONL file (DuckDB's JSON reader pays a fixed
cost per file, and the archive holds one small file per batch), large ones of a local store
are read where they lie. Parquet parts come as the
store's own files when it has them (LocalBlobStore), else as cached copies: a part never
changes once written (its name follows from what it covers), so a copy never goes stale.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

from imagelake.domain.errors import BackendError
from imagelake.ports import BlobStore

FETCH_THREADS = 8
IN_PLACE_BYTES = 256 * 1024
PRUNE_AFTER_SECONDS = 600.0  # a copy another process may still be reading is left alone

# The archived fields compaction keeps. Timestamps are UTC: the archiver writes +00:00, and
# DuckDB's TIMESTAMP keeps the wall clock of whatever offset it is given. `variant` is
# written by the archiver (lake/archive.py: variant_of); lines archived before it read NULL.
RAW_COLUMNS = (
    "{'key': 'VARCHAR', 'received_at': 'TIMESTAMP', 'user_id': 'VARCHAR', "
    "'image_id': 'VARCHAR', 'timestamp': 'TIMESTAMP', 'variant': 'VARCHAR'}"
)
COLUMNS = 'key, received_at, user_id, image_id, "timestamp", variant'
# Parts compacted before the variant column existed read it as NULL.
PART_DEFAULTS = "SELECT NULL::VARCHAR AS variant WHERE false"


def raw_sql(file_param: str) -> str:
    """SELECT of the archived fields of every line of the JSONL files gather() names."""
    return (
        f"SELECT {COLUMNS} FROM read_json({file_param}, format = 'newline_delimited', "
        f"columns = {RAW_COLUMNS}, hive_partitioning = false)"
    )


def parts_sql(file_param: str) -> str:
    """SELECT * of the Parquet parts file_param names, any column a part lacks as NULL."""
    return (
        f"SELECT * FROM read_parquet({file_param}, union_by_name = true, "
        f"hive_partitioning = false) UNION ALL BY NAME {PART_DEFAULTS}"
    )


def fingerprint(column: str) -> str:
    """A BIGINT standing in for a string id: grouping integers is far cheaper than strings.

    DuckDB's hash() is only stable within a DuckDB version, so manifests record the engine's
    fingerprint_probe() and parts written by another version get theirs recomputed.
    """
    return f"CAST(hash({column}) >> 1 AS BIGINT)"


USER_KEY = fingerprint("user_id")
IMAGE_KEY = fingerprint("image_id")


def deduped_sql(sources: str) -> str:
    """The rows of sources, one per idempotency key (the earliest received), with fingerprints."""
    return f"WITH hashed AS ({hashed_sql(sources)}), {_dedupe('hashed')}"


def hashed_sql(sources: str) -> str:
    """The rows of sources with `h`, a 64-bit hash of their idempotency key."""
    return f"SELECT *, hash(key) AS h FROM ({sources})"


def dedupe_hashed_sql(table: str) -> str:
    """deduped_sql over a table already holding hashed_sql's rows (read once, kept once)."""
    return f"WITH {_dedupe(table)}"


def _dedupe(hashed: str) -> str:
    """Common table expressions, then the SELECT: the rows of `hashed`, one per key.

    Duplicates are rare: candidates are found by the cheap 64-bit hash of the key and settled
    by the key itself, while every other row passes straight through (no window over all
    rows, which would sort every one of them).
    """
    keep = (
        'QUALIFY row_number() OVER (PARTITION BY key ORDER BY received_at, "timestamp", '
        "user_id, image_id, variant) = 1"
    )
    return f"""clashes AS (SELECT h FROM {hashed} GROUP BY h HAVING count(*) > 1),
kept AS (
  SELECT * EXCLUDE (h) FROM {hashed} ANTI JOIN clashes USING (h)
  UNION ALL
  SELECT * EXCLUDE (h) FROM (SELECT * FROM {hashed} SEMI JOIN clashes USING (h)) {keep}
)
SELECT *, {USER_KEY} AS user_key, {IMAGE_KEY} AS image_key FROM kept"""


def reads_in_place(store: BlobStore) -> bool:
    """Whether the store's objects are local files DuckDB can read where they lie."""
    return store.local_path("events") is not None


def gather(store: BlobStore, keys: Sequence[str], target: Path) -> list[str]:
    """Local JSONL files holding the raw batches `keys`, for one read_json.

    A file-backed store's large batches are read where they are; the rest are concatenated
    into target, as DuckDB's JSON reader pays a fixed cost per file, which for a batch under
    IN_PLACE_BYTES is more than copying it costs.
    """
    in_place: list[str] = []
    local = reads_in_place(store)
    if local:
        small = []
        for key in keys:
            path = store.local_path(key)
            if path is not None and _read_ahead_if_large(path):
                in_place.append(str(path))
            else:
                small.append(key)
        keys = small
    with target.open("wb") as out, ThreadPoolExecutor(FETCH_THREADS) as pool:
        # Local files read fastest one after another (a plain read and write also beats
        # copy_file_range here); remote objects come FETCH_THREADS at a time, in order.
        for data in map(store.get, keys) if local else pool.map(store.get, keys):
            out.write(data)
            if data and not data.endswith(b"\n"):
                out.write(b"\n")
        gathered = out.tell() > 0
    return ([str(target)] if gathered or not in_place else []) + in_place


def _read_ahead_if_large(path: Path) -> bool:
    """Whether the file has IN_PLACE_BYTES or more; if so, the kernel starts reading it ahead
    of DuckDB (a hint: the caller goes on meanwhile)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False  # the store's get() says what is wrong with it
    try:
        if os.fstat(fd).st_size < IN_PLACE_BYTES:
            return False
        with suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        return True
    finally:
        os.close(fd)


class PartFiles:
    """Local paths of Parquet parts: the store's own files, or cached copies of them."""

    def __init__(self, store: BlobStore, cache_dir: Path) -> None:
        self._store = store
        self._cache_dir = cache_dir

    def paths(self, keys: Sequence[str]) -> list[str]:
        if reads_in_place(self._store):
            return [str(self._store.local_path(key)) for key in keys]
        targets = [self._cache_dir / key for key in keys]
        missing = [(k, t) for k, t in zip(keys, targets, strict=True) if not t.exists()]
        if missing:
            with ThreadPoolExecutor(min(FETCH_THREADS, len(missing))) as pool:
                list(pool.map(lambda item: self._fetch(*item), missing))
        now = time.time()
        for target in targets:
            os.utime(target, (now, now))
        return [str(t) for t in targets]

    def prune(self, keep: Sequence[str]) -> int:
        """Delete cached copies not in keep and unused for a while; return how many."""
        if reads_in_place(self._store) or not self._cache_dir.is_dir():
            return 0
        wanted = {self._cache_dir / key for key in keep}
        cutoff = time.time() - PRUNE_AFTER_SECONDS
        removed = 0
        for path in self._cache_dir.rglob("*"):
            if path.is_file() and path not in wanted and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _fetch(self, key: str, target: Path) -> None:
        data = self._store.get(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        except OSError as exc:
            raise BackendError(f"cannot cache {key!r} in {self._cache_dir}: {exc}") from exc
