"""Real, small adapters that fail on purpose: wrap a working one and break chosen calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from imagelake.domain.errors import BackendError
from imagelake.domain.events import ImageStats, RequestRecord
from imagelake.ports import BlobMeta, BlobStore, StatsCatalog


class FlakyBlobStore:
    """Fails the next `failures` puts, and every put for which `poisoned(key, data)` holds."""

    def __init__(
        self,
        inner: BlobStore,
        failures: int = 0,
        poisoned: Callable[[str, bytes], bool] | None = None,
        error: Callable[[str], Exception] = BackendError,
    ) -> None:
        self.inner = inner
        self.failures = failures
        self.poisoned = poisoned
        self.error = error
        self.attempts = 0

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise self.error("the disk is unavailable")
        if self.poisoned is not None and self.poisoned(key, data):
            raise self.error(f"this data cannot be written to {key}")
        self.inner.put(key, data, content_type)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        self.put(key, path.read_bytes(), content_type)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def head(self, key: str) -> BlobMeta:
        return self.inner.head(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str) -> Iterator[str]:
        return self.inner.list(prefix)

    def signed_url(self, key: str, ttl: int) -> str:
        return self.inner.signed_url(key, ttl)

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)


class FlakyStats:
    """Fails the next `failures` writes, and every write holding a record `poisoned` picks."""

    def __init__(
        self,
        inner: StatsCatalog,
        failures: int = 0,
        poisoned: Callable[[RequestRecord], bool] | None = None,
        error: Callable[[str], Exception] = BackendError,
    ) -> None:
        self.inner = inner
        self.failures = failures
        self.poisoned = poisoned
        self.error = error
        self.attempts = 0

    def record_requests(self, records: Sequence[RequestRecord]) -> int:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise self.error("the catalog is locked")
        if self.poisoned is not None and any(self.poisoned(r) for r in records):
            raise self.error("a record the catalog cannot take")
        return self.inner.record_requests(records)

    def get_stats(self, image_id: str) -> ImageStats:
        return self.inner.get_stats(image_id)
