"""Thumbnail jobs: one decode, every size, the record marked ready or failed."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from imagelake.domain.errors import CorruptImage, ImagelakeError, NotFound
from imagelake.domain.events import EventName, build_event
from imagelake.domain.images import Image, ImageStatus, ThumbnailSpec, thumbnail_key, utcnow
from imagelake.ports import BlobStore, Catalog, ImageEngine, Notification, Notifier, Queue
from imagelake.services.delivery import DeliveryService
from imagelake.services.ingest import thumbnail_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MadeThumbnails:
    """A job's thumbnails, encoded in memory: the half of the work that needs the CPU."""

    image: Image
    blobs: dict[int, bytes]  # size -> encoded thumbnail


class ThumbnailService:
    def __init__(
        self,
        *,
        blobs: BlobStore,
        thumbnails: BlobStore,
        catalog: Catalog,
        engine: ImageEngine,
        spec: ThumbnailSpec,
        jobs: Queue,
        events: Queue,
        notifier: Notifier,
        delivery: DeliveryService,
        notify_ready: bool = False,
        url_ttl: int = 3600,
    ) -> None:
        self._blobs = blobs
        self._thumbnails = thumbnails
        self._catalog = catalog
        self._engine = engine
        self._spec = spec
        self._jobs = jobs
        self._events = events
        self._notifier = notifier
        self._notify_ready = notify_ready
        self._url_ttl = url_ttl
        self._delivery = delivery
        # Each put waits on the disk or the network, not the CPU: overlap them. One pool for
        # the service's lifetime, as starting threads for every job costs CPU of its own.
        self._puts = ThreadPoolExecutor(max(1, len(spec.sizes)), thread_name_prefix="thumbnail-put")

    def process(self, image_id: str) -> Image | None:
        """Make every thumbnail of one image. Idempotent; None if the image is gone."""
        made = self.make(image_id)
        return self.store(made) if isinstance(made, MadeThumbnails) else made

    def make(self, image_id: str) -> MadeThumbnails | Image | None:
        """The thumbnails in memory, nothing stored yet; or the job's outcome when there is
        nothing to store: None if the image is gone, the image if it is already ready or if
        its bytes cannot be decoded (then marked failed)."""
        try:
            image = self._catalog.get_image(image_id)
        except NotFound:
            return None
        if image.status == ImageStatus.READY:
            return image
        data = self._blobs.get(image.original_key)
        try:
            return MadeThumbnails(image, self._engine.thumbnails(data, self._spec))
        except CorruptImage as exc:
            return self.fail(image_id, str(exc))

    def store(self, made: MadeThumbnails) -> Image | None:
        """Store the thumbnails, then mark the image ready; None if it was deleted meanwhile."""
        image, image_id = made.image, made.image.image_id
        keys = {size: thumbnail_key(image_id, size, self._spec) for size in made.blobs}
        stored = [
            self._puts.submit(self._thumbnails.put, keys[size], blob, self._spec.content_type)
            for size, blob in made.blobs.items()
        ]
        wait(stored)
        for put in stored:
            put.result()  # the first failure, if any, fails the job
        ready = image.ready(keys)
        try:
            self._catalog.save_image(ready)
        except NotFound:  # deleted while we worked: leave nothing behind
            for key in keys.values():
                self._thumbnails.delete(key)
            return None
        self._events.send(
            [build_event(EventName.THUMBNAIL_CREATED, image.owner, image_id, utcnow())]
        )
        if self._notify_ready:
            self._notify_ready_image(ready)
        return ready

    def fail(self, image_id: str, reason: str) -> Image | None:
        """Mark an image failed for good, with the reason, and raise the alarm."""
        try:
            image = self._catalog.get_image(image_id)
            if image.status == ImageStatus.READY:  # a late verdict on a job that did finish
                return image
            failed = image.failed(reason)
            self._catalog.save_image(failed)
        except NotFound:
            return None
        self._safe_notify(
            Notification(
                subject=f"imagelake: thumbnails failed for {image_id}",
                message=reason,
                data={"image_id": image_id, "reason": reason},
            )
        )
        return failed

    def recover(self, limit: int = 10_000) -> int:
        """Re-queue every image still processing; a job lost in a crash is made again."""
        pending = self._catalog.images_with_status(ImageStatus.PROCESSING, limit)
        if pending:
            self._jobs.send([thumbnail_job(image.image_id) for image in pending])
        return len(pending)

    def _notify_ready_image(self, image: Image) -> None:
        largest = self._delivery.variant({"size": str(max(image.thumbnails))})
        url = self._delivery.mint(image, largest, image.owner, self._url_ttl)
        recipient = None
        for key in self._catalog.list_keys():
            if key.user_id == image.owner and key.email and not key.revoked:
                recipient = key.email
                break
        self._safe_notify(
            Notification(
                subject=f"imagelake: image {image.image_id} is ready",
                message=f"Your image {image.image_id} is ready: {url}",
                kind="info",
                data={"image_id": image.image_id, "url": url},
                recipient=recipient,
            )
        )

    def _safe_notify(self, notification: Notification) -> None:
        try:
            self._notifier.notify(notification)
        except ImagelakeError:  # an alert that cannot be sent must not fail the job
            log.exception("notification failed: %s", notification.subject)
