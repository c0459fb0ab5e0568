"""The embedded stores' signed links: which blob a /files link names, if its signature holds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from imagelake.domain.errors import Forbidden, InvalidInput
from imagelake.domain.signing import Signer
from imagelake.ports import BlobMeta, BlobStore


@dataclass(frozen=True)
class SignedBlob:
    meta: BlobMeta
    store: BlobStore
    seconds_left: int

    def read(self) -> bytes:
        return self.store.get(self.meta.key)

    def local_path(self) -> Path | None:
        """The blob's own file when the store keeps plain local files, so it can be streamed."""
        return self.store.local_path(self.meta.key)


class SignedFiles:
    def __init__(self, *, signer: Signer, originals: BlobStore, thumbnails: BlobStore) -> None:
        self._signer = signer
        self._originals = originals
        self._thumbnails = thumbnails

    def open(self, key: str, expires: str, signature: str) -> SignedBlob:
        """The blob key names; Forbidden for a bad or expired link, InvalidInput for a bad key."""
        if "\\" in key or "\x00" in key or key.startswith("/") or ".." in key.split("/"):
            raise InvalidInput("invalid file key")
        if not expires.isdigit() or not signature:
            raise Forbidden("missing or malformed expires/signature")
        now = time.time()
        self._signer.verify(key, int(expires), signature, now)
        store = self._thumbnails if key.startswith("thumbnails/") else self._originals
        return SignedBlob(store.head(key), store, max(0, int(expires) - int(now)))
