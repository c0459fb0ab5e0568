"""Images, their thumbnails and the keys they live under."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from imagelake.domain.variants import Format, Render, Variant


class ImageStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/tiff": "tif",
    "image/avif": "avif",
    "image/heic": "heic",
}

THUMBNAIL_CONTENT_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_image_id() -> str:
    return str(uuid.uuid4())


def is_image_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


@dataclass(frozen=True)
class ThumbnailSpec:
    sizes: tuple[int, ...] = (128, 256, 512)
    format: str = "jpeg"
    quality: int = 82

    @property
    def extension(self) -> str:
        return "jpg" if self.format == "jpeg" else self.format

    @property
    def content_type(self) -> str:
        return THUMBNAIL_CONTENT_TYPES[self.format]


def original_key(image_id: str, content_type: str) -> str:
    return f"originals/{image_id}.{EXTENSIONS.get(content_type, 'bin')}"


def thumbnail_key(image_id: str, size: int, spec: ThumbnailSpec) -> str:
    """An upload-time thumbnail is the variant `size=N` asks for, made ahead of time."""
    variant = Variant(w=size, h=size, format=Format(spec.format), quality=spec.quality)
    return variant_key(image_id, Render(variant))


def variant_key(image_id: str, render: Render) -> str:
    """Where a rendered variant is kept: deterministic, so it is rendered once."""
    return f"thumbnails/{image_id}/v/{render.name}"


@dataclass(frozen=True)
class Image:
    image_id: str
    sha256: str
    content_type: str
    width: int
    height: int
    bytes: int
    created_at: datetime
    owner: str = ""
    status: ImageStatus = ImageStatus.PROCESSING
    failure_reason: str | None = None
    thumbnails: dict[int, str] = field(default_factory=dict)  # size -> blob key

    @property
    def original_key(self) -> str:
        return original_key(self.image_id, self.content_type)

    def ready(self, thumbnails: dict[int, str]) -> Image:
        return dataclasses.replace(
            self, status=ImageStatus.READY, thumbnails=thumbnails, failure_reason=None
        )

    def failed(self, reason: str) -> Image:
        return dataclasses.replace(self, status=ImageStatus.FAILED, failure_reason=reason)


@dataclass(frozen=True)
class ImageInfo:
    """What the header of an image says, read without decoding its pixels."""

    content_type: str
    width: int  # as displayed, EXIF orientation applied
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    key_hash: str
    user_id: str
    created_at: datetime
    email: str | None = None
    revoked: bool = False
    role: str = "user"  # a domain.access.Role


@dataclass(frozen=True)
class DashboardSession:
    """A signed-in browser: the cookie holds a random id, the catalog only its hash."""

    session_hash: str
    key_hash: str  # the API key it was opened with: revoking the key ends the session
    created_at: datetime
    expires_at: datetime
