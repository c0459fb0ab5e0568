"""The bound on rendered variants: IMAGELAKE_VARIANT_CACHE_BYTES, least recently requested out.

Recency comes from the request counts the catalog already keeps: an image's
`last_requested_at` (never requested: oldest). Variants of one image go oldest-rendered first.
Upload-time thumbnails are part of the image's record and are never evicted; a variant evicted
is rendered again on its next request, so eviction loses no link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from imagelake.domain.errors import NotFound
from imagelake.domain.images import ThumbnailSpec, thumbnail_key
from imagelake.ports import BlobStore, Catalog

log = logging.getLogger(__name__)
NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Evicted:
    variants: int
    bytes_freed: int
    bytes_kept: int


class VariantCache:
    def __init__(
        self, *, thumbnails: BlobStore, catalog: Catalog, spec: ThumbnailSpec, max_bytes: int
    ) -> None:
        self._thumbnails = thumbnails
        self._catalog = catalog
        self._spec = spec
        self._max_bytes = max_bytes

    def evict(self) -> Evicted:
        """Delete the least recently requested variants until the rest fit in the budget."""
        entries = []
        for key in self._thumbnails.list("thumbnails/"):
            parts = key.split("/")
            if len(parts) != 4 or parts[2] != "v" or self._made_at_upload(parts[1], key):
                continue
            try:
                meta = self._thumbnails.head(key)
            except NotFound:  # deleted meanwhile
                continue
            entries.append((parts[1], meta.modified, meta.size, key))
        total = sum(size for _, _, size, _ in entries)
        if not self._max_bytes or total <= self._max_bytes:
            return Evicted(0, 0, total)
        recency = {image_id: self._last_requested(image_id) for image_id, *_ in entries}
        entries.sort(key=lambda e: (recency[e[0]], e[1]))
        freed = evicted = 0
        for _, _, size, key in entries:
            if total - freed <= self._max_bytes:
                break
            self._thumbnails.delete(key)
            freed += size
            evicted += 1
        log.info("variant cache: evicted %d variants, %d bytes", evicted, freed)
        return Evicted(evicted, freed, total - freed)

    def _made_at_upload(self, image_id: str, key: str) -> bool:
        return any(key == thumbnail_key(image_id, size, self._spec) for size in self._spec.sizes)

    def _last_requested(self, image_id: str) -> datetime:
        try:
            return self._catalog.get_stats(image_id).last_requested_at or NEVER
        except NotFound:
            return NEVER
