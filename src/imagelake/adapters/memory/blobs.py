"""In-memory BlobStore: real, thread-safe, and used by unit tests."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from imagelake.adapters.blob_keys import (
    content_type_for,
    open_source,
    validate_key,
    validate_prefix,
)
from imagelake.domain.errors import NotFound
from imagelake.domain.signing import Signer
from imagelake.ports import BlobMeta


class MemoryBlobStore:
    def __init__(self, base_url: str, signer: Signer) -> None:
        self._base_url = base_url.rstrip("/")
        self._signer = signer
        self._blobs: dict[str, tuple[bytes, BlobMeta]] = {}
        self._lock = threading.Lock()

    def local_path(self, key: str) -> None:
        return None

    def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        etag = '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'
        meta = BlobMeta(
            key, len(data), content_type or content_type_for(key), etag, datetime.now(UTC)
        )
        with self._lock:
            self._blobs[key] = (bytes(data), meta)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        with open_source(path, key) as source:
            self.put(key, source.read(), content_type)

    def get(self, key: str) -> bytes:
        return self._entry(key)[0]

    def head(self, key: str) -> BlobMeta:
        return self._entry(key)[1]

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._lock:
            self._blobs.pop(key, None)

    def list(self, prefix: str) -> Iterator[str]:
        validate_prefix(prefix)
        with self._lock:
            return iter(sorted(k for k in self._blobs if k.startswith(prefix)))

    def signed_url(self, key: str, ttl: int) -> str:
        validate_key(key)
        expires, signature = self._signer.sign(key, time.time(), ttl)
        path = quote(key, safe="/")
        return f"{self._base_url}/files/{path}?expires={expires}&signature={signature}"

    def _entry(self, key: str) -> tuple[bytes, BlobMeta]:
        validate_key(key)
        with self._lock:
            if key not in self._blobs:
                raise NotFound(f"no blob {key!r}")
            return self._blobs[key]
