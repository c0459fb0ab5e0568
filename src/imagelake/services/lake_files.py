"""Lake objects as files DuckDB can read, and the DuckDB plumbing shared by compaction and queries.

DuckDB's S3 support (httpfs) is an extension it downloads at run time, which an offline
machine cannot do. So every object reaches DuckDB as a local file: a file-backed store
hands over its own paths; any other store (S3, memory) is read through the BlobStore port
into a cache directory. Lake objects never change once written (raw batches are
write-once, Parquet parts are named after what they cover), so a cached copy never goes
stale; `prune` drops the ones the lake no longer references.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

import duckdb

from imagelake.domain.errors import BackendError
from imagelake.ports import BlobStore

FETCH_THREADS = 8
PRUNE_AFTER_SECONDS = 600.0  # a copy another process may still be reading is left alone

# One archived event as compaction and queries read it; timestamps are UTC.
RAW_SCHEMA = (
    '{"key":"VARCHAR","received_at":"TIMESTAMP","user_id":"VARCHAR",'
    '"image_id":"VARCHAR","timestamp":"TIMESTAMP"}'
)
COLUMNS = 'key, received_at, user_id, image_id, "timestamp"'


def raw_events_sql(files_param: str) -> str:
    """SELECT of every line of the raw JSONL files named by a list parameter.

    read_text + string_split + json_transform is ~5x cheaper than read_json over many small
    files: read_json pays a large fixed cost per file, and the archive holds one per batch.
    """
    return (
        f"SELECT e.key, e.received_at, e.user_id, e.image_id, e.timestamp FROM ("
        f"SELECT json_transform(line, '{RAW_SCHEMA}') AS e FROM ("
        f"SELECT unnest(string_split(content, chr(10))) AS line FROM read_text({files_param})"
        f") WHERE line <> '')"
    )


FIRST_OF_EACH_KEY = (
    'QUALIFY row_number() OVER (PARTITION BY key ORDER BY received_at, "timestamp", '
    "user_id, image_id) = 1"
)


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that never reaches for the network."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if threads:
        config["threads"] = threads
    with duckdb_errors("open DuckDB"):
        return duckdb.connect(":memory:", config=config)


@contextmanager
def duckdb_errors(what: str) -> Iterator[None]:
    """Raise DuckDB failures inside the block as BackendError."""
    try:
        yield
    except duckdb.Error as exc:
        raise BackendError(f"{what}: {exc}") from exc


@runtime_checkable
class FileBacked(Protocol):
    """A store whose objects are plain files (LocalBlobStore)."""

    def path_of(self, key: str) -> Path: ...


class LakeFiles:
    """Local paths for lake objects: the store's own files, or cached copies of them."""

    def __init__(self, store: BlobStore, cache_dir: Path) -> None:
        self._store = store
        self._cache_dir = cache_dir
        self._lock = threading.Lock()

    @property
    def direct(self) -> bool:
        return isinstance(self._store, FileBacked)

    def paths(self, keys: Sequence[str]) -> list[str]:
        if isinstance(self._store, FileBacked):
            store = self._store
            return [str(store.path_of(key)) for key in keys]
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
        if isinstance(self._store, FileBacked) or not self._cache_dir.is_dir():
            return 0
        wanted = {self._cache_dir / key for key in keep}
        cutoff = time.time() - PRUNE_AFTER_SECONDS
        removed = 0
        with self._lock:
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
