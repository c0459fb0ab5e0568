"""Upload: validate, dedupe by content hash, store the original, queue its thumbnails."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from imagelake.domain.errors import ImageTooLarge
from imagelake.domain.events import EventName, build_event
from imagelake.domain.images import Image, new_image_id, original_key, utcnow
from imagelake.domain.sniff import check_complete
from imagelake.ports import BlobStore, Catalog, ImageEngine, Queue


@dataclass(frozen=True)
class IngestResult:
    image: Image
    duplicate: bool


def thumbnail_job(image_id: str) -> bytes:
    return json.dumps({"image_id": image_id}).encode()


class IngestService:
    def __init__(
        self,
        *,
        blobs: BlobStore,
        catalog: Catalog,
        jobs: Queue,
        events: Queue,
        engine: ImageEngine,
        max_pixels: int,
    ) -> None:
        self._blobs = blobs
        self._catalog = catalog
        self._jobs = jobs
        self._events = events
        self._engine = engine
        self._max_pixels = max_pixels

    def upload(self, data: bytes, owner: str) -> IngestResult:
        """Store new bytes and queue their thumbnails; the same bytes again return the first."""
        sha256 = hashlib.sha256(data).hexdigest()
        existing = self._catalog.find_by_sha256(owner, sha256)
        if existing is not None:
            return IngestResult(existing, duplicate=True)
        info = self._engine.probe(data)
        if info.pixels > self._max_pixels:
            raise ImageTooLarge(
                f"{info.width}x{info.height} is {info.pixels:,} pixels; "
                f"the limit is {self._max_pixels:,}"
            )
        check_complete(data, info.content_type)
        image = Image(
            image_id=new_image_id(),
            sha256=sha256,
            content_type=info.content_type,
            width=info.width,
            height=info.height,
            bytes=len(data),
            created_at=utcnow(),
            owner=owner,
        )
        # Order matters for crash safety: the original before its record, the record before
        # its job. A record left without a job is re-queued by ThumbnailService.recover().
        self._blobs.put(image.original_key, data, info.content_type)
        stored = self._catalog.add_image(image)
        if stored.image_id != image.image_id:  # lost a race against the same bytes
            self._blobs.delete(original_key(image.image_id, info.content_type))
            return IngestResult(stored, duplicate=True)
        self._jobs.send([thumbnail_job(image.image_id)])
        self._events.send(
            [build_event(EventName.IMAGE_UPLOADED, owner, image.image_id, image.created_at)]
        )
        return IngestResult(stored, duplicate=False)
