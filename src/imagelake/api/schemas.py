"""Response shapes, as published in the OpenAPI document."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from imagelake.domain.images import Image
from imagelake.services.images import ImageUrls


class ImageOut(BaseModel):
    image_id: str
    sha256: str
    content_type: str
    width: int
    height: int
    bytes: int
    created_at: datetime
    status: str
    failure_reason: str | None = None
    original_url: str
    thumbnails: dict[str, str] | None
    duplicate: bool = False

    @classmethod
    def of(cls, image: Image, urls: ImageUrls, duplicate: bool = False) -> ImageOut:
        thumbs = None
        if urls.thumbnails is not None:
            thumbs = {str(size): url for size, url in sorted(urls.thumbnails.items())}
        return cls(
            image_id=image.image_id,
            sha256=image.sha256,
            content_type=image.content_type,
            width=image.width,
            height=image.height,
            bytes=image.bytes,
            created_at=image.created_at,
            status=str(image.status),
            failure_reason=image.failure_reason,
            original_url=urls.original,
            thumbnails=thumbs,
            duplicate=duplicate,
        )


class ImagePage(BaseModel):
    images: list[ImageOut]
    next_cursor: str | None


class LegacyUploadOut(BaseModel):
    image_id: str
    thumbnail_url: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail
