"""Reading and deleting images, and the signed URLs handed out for them."""

from __future__ import annotations

from dataclasses import dataclass

from imagelake.domain.errors import InvalidInput, NotFound
from imagelake.domain.events import EventName, ImageStats, build_event
from imagelake.domain.images import Image, ImageStatus, ThumbnailSpec, is_image_id, utcnow
from imagelake.ports import BlobStore, Catalog, Queue


@dataclass(frozen=True)
class ImageUrls:
    original: str
    thumbnails: dict[int, str] | None


class ImageService:
    def __init__(
        self,
        *,
        blobs: BlobStore,
        thumbnails: BlobStore,
        catalog: Catalog,
        events: Queue,
        spec: ThumbnailSpec,
        url_ttl: int,
        max_url_ttl: int,
    ) -> None:
        self._blobs = blobs
        self._thumbnails = thumbnails
        self._catalog = catalog
        self._events = events
        self._spec = spec
        self._url_ttl = url_ttl
        self._max_url_ttl = max_url_ttl

    def get(self, image_id: str) -> Image:
        if not is_image_id(image_id):
            raise NotFound(f"no image {image_id[:64]!r}")
        try:
            return self._catalog.get_image(image_id)
        except NotFound:
            raise NotFound(f"no image {image_id}") from None

    def list(self, limit: int, cursor: str | None) -> tuple[list[Image], str | None]:
        return self._catalog.list_images(limit, cursor)

    def ttl(self, requested: int | None) -> int:
        if requested is None:
            return self._url_ttl
        if requested < 1:
            raise InvalidInput("ttl must be a positive number of seconds")
        return min(requested, self._max_url_ttl)

    def urls(self, image: Image, ttl: int) -> ImageUrls:
        original = self._blobs.signed_url(image.original_key, ttl)
        if image.status != ImageStatus.READY:
            return ImageUrls(original, None)
        thumbs = {
            size: self._thumbnails.signed_url(key, ttl) for size, key in image.thumbnails.items()
        }
        return ImageUrls(original, thumbs)

    def download_url(self, image: Image, size: str, ttl: int) -> str:
        """The signed URL of the original or of one thumbnail size."""
        if size == "original":
            return self._blobs.signed_url(image.original_key, ttl)
        if not size.isdigit() or int(size) not in self._spec.sizes:
            sizes = ", ".join(["original", *map(str, self._spec.sizes)])
            raise InvalidInput(f"size must be one of: {sizes}")
        if image.status != ImageStatus.READY:
            raise NotFound(f"thumbnails of {image.image_id} are not ready ({image.status})")
        key = image.thumbnails.get(int(size))
        if key is None:
            raise NotFound(f"no {size}px thumbnail for {image.image_id}")
        return self._thumbnails.signed_url(key, ttl)

    def stats(self, image_id: str) -> ImageStats:
        """How often the image was requested, by how many users, and by whom last."""
        return self._catalog.get_stats(image_id)

    def delete(self, image_id: str, user_id: str) -> None:
        """Remove the record and every blob of the image."""
        image = self.get(image_id)
        self._catalog.delete_image(image.image_id)
        self._blobs.delete(image.original_key)
        for key in image.thumbnails.values():
            self._thumbnails.delete(key)
        for key in self._thumbnails.list(f"thumbnails/{image.image_id}/"):
            self._thumbnails.delete(key)
        self._events.send([build_event(EventName.IMAGE_DELETED, user_id, image_id, utcnow())])
