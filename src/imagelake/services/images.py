"""Reading and deleting images, and the delivery links handed out for them."""

from __future__ import annotations

from dataclasses import dataclass

from imagelake.domain.access import Action, check_owner, owner_filter, require, sees_all_stats
from imagelake.domain.errors import Forbidden, InvalidInput, NotFound
from imagelake.domain.events import EventName, ImageStats, build_event
from imagelake.domain.images import ApiKey, Image, ImageStatus, ThumbnailSpec, is_image_id, utcnow
from imagelake.domain.variants import ORIGINAL, Variant
from imagelake.ports import BlobStore, Catalog, Queue
from imagelake.services.delivery import DeliveryService


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
        delivery: DeliveryService,
        url_ttl: int,
        max_url_ttl: int,
    ) -> None:
        self._blobs = blobs
        self._thumbnails = thumbnails
        self._catalog = catalog
        self._events = events
        self._spec = spec
        self._delivery = delivery
        self._url_ttl = url_ttl
        self._max_url_ttl = max_url_ttl

    def get(self, image_id: str, caller: ApiKey) -> Image:
        """The image, if the caller may see it: someone else's is NotFound, as if absent."""
        require(caller, Action.READ_IMAGES)
        return check_owner(caller, self._find(image_id))

    def list(
        self, caller: ApiKey, limit: int, cursor: str | None
    ) -> tuple[list[Image], str | None]:
        """The caller's images (an admin's: everyone's), newest first."""
        require(caller, Action.READ_IMAGES)
        return self._catalog.list_images(limit, cursor, owner=owner_filter(caller))

    def ttl(self, requested: int | None) -> int:
        if requested is None:
            return self._url_ttl
        if requested < 1:
            raise InvalidInput("ttl must be a positive number of seconds")
        return min(requested, self._max_url_ttl)

    def urls(self, image: Image, ttl: int, user_id: str) -> ImageUrls:
        """Delivery links of the original and, once made, every thumbnail size."""
        original = self._delivery.mint(image, ORIGINAL, user_id, ttl)
        if image.status != ImageStatus.READY:
            return ImageUrls(original, None)
        presets = self._delivery.policy.presets.sizes
        thumbs = {
            size: self._delivery.mint(image, presets[str(size)], user_id, ttl)
            for size in image.thumbnails
            if str(size) in presets
        }
        return ImageUrls(original, thumbs)

    def download_url(self, image: Image, variant: Variant, ttl: int, user_id: str) -> str:
        """The delivery link of one variant; counted, when fetched, for user_id."""
        return self._delivery.mint(image, variant, user_id, ttl)

    def stats(self, image_id: str, caller: ApiKey) -> ImageStats:
        """How often the image was requested, by how many users, and by whom last.

        A user sees its own images' stats (zero counts before the first request); analysts
        and admins see every id's, including ids imagelake does not store.
        """
        require(caller, Action.READ_STATS)
        if not sees_all_stats(caller):
            check_owner(caller, self._find(image_id))
        try:
            return self._catalog.get_stats(image_id)
        except NotFound:
            if sees_all_stats(caller):
                self._find(image_id)  # requested by nobody, and not stored either: 404
            return ImageStats.unrequested(image_id)

    def check_stats_scope(self, caller: ApiKey, image_id: str | None) -> None:
        """Lake-wide stats are for analysts and admins; a user may ask about its own image."""
        require(caller, Action.READ_STATS)
        if sees_all_stats(caller):
            return
        if image_id is None:
            raise Forbidden(
                f"a {caller.role} key sees the stats of its own images only: pass image_id"
            )
        check_owner(caller, self._find(image_id))

    def delete(self, image_id: str, caller: ApiKey) -> None:
        """Remove the record and every blob of the image."""
        require(caller, Action.DELETE_IMAGES)
        image = check_owner(caller, self._find(image_id))
        user_id = caller.user_id
        self._catalog.delete_image(image.image_id)
        self._blobs.delete(image.original_key)
        for key in image.thumbnails.values():
            self._thumbnails.delete(key)
        for key in self._thumbnails.list(f"thumbnails/{image.image_id}/"):
            self._thumbnails.delete(key)
        self._events.send([build_event(EventName.IMAGE_DELETED, user_id, image_id, utcnow())])

    def _find(self, image_id: str) -> Image:
        if not is_image_id(image_id):
            raise NotFound(f"no image {image_id[:64]!r}")
        try:
            return self._catalog.get_image(image_id)
        except NotFound:
            raise NotFound(f"no image {image_id}") from None
