"""Response shapes, as published in the OpenAPI document."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from imagelake.domain.access import Role
from imagelake.domain.images import ApiKey, Image
from imagelake.lake.reports import GroupBy
from imagelake.services.images import ImageUrls
from imagelake.services.uploads import UploadStatus


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


class Accepted(BaseModel):
    accepted: int


class StatsOut(BaseModel):
    image_id: str
    request_count: int
    unique_users: int
    first_requested_at: datetime | None
    last_requested_at: datetime | None
    last_user_id: str | None


class DayOut(BaseModel):
    day: date
    requests: int
    unique_users: int
    unique_images: int


class ImageRankOut(BaseModel):
    image_id: str
    requests: int
    unique_users: int
    last_requested_at: datetime


class UserRankOut(BaseModel):
    user_id: str
    requests: int
    unique_images: int
    last_requested_at: datetime


class VariantRankOut(BaseModel):
    variant: str = Field(description='The rendered output\'s name; "unknown" if none was sent')
    requests: int
    unique_users: int
    unique_images: int
    last_requested_at: datetime


class RequestsOut(BaseModel):
    by: GroupBy
    since: date | None
    until: date | None
    image_id: str | None
    top: int | None
    rows: list[DayOut] | list[ImageRankOut] | list[UserRankOut] | list[VariantRankOut]


class SummaryOut(BaseModel):
    since: date | None
    until: date | None
    image_id: str | None
    requests: int
    images: int
    users: int
    first_request_at: datetime | None
    last_request_at: datetime | None


class UploadIn(BaseModel):
    content_type: str | None = Field(
        None, description="The media type the form will send; default application/octet-stream"
    )


class UploadTicketOut(BaseModel):
    upload_id: str
    key: str
    url: str = Field(description="POST a multipart form here: every field, then `file`")
    fields: dict[str, str]
    max_bytes: int
    expires_at: datetime
    status_url: str
    complete_url: str = Field(description="POST here once the file is in: finishes the upload")


class UploadStatusOut(BaseModel):
    upload_id: str
    status: str = Field(description="pending, accepted (see image_id) or rejected (see error)")
    created_at: datetime
    image_id: str | None
    duplicate: bool
    error: dict[str, str] | None

    @classmethod
    def of(cls, status: UploadStatus) -> UploadStatusOut:
        error = None
        if status.error_code:
            error = {"code": status.error_code, "message": status.error_message or ""}
        return cls(
            upload_id=status.upload_id,
            status=status.status,
            created_at=datetime.fromisoformat(status.created_at),
            image_id=status.image_id,
            duplicate=status.duplicate,
            error=error,
        )


class KeyIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=128)
    role: Role = Role.USER
    email: str | None = Field(None, max_length=320)


class KeyOut(BaseModel):
    key_id: str
    user_id: str
    role: Role
    email: str | None
    created_at: datetime
    revoked: bool

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls(
            key_id=key.key_id,
            user_id=key.user_id,
            role=Role(key.role),
            email=key.email,
            created_at=key.created_at,
            revoked=key.revoked,
        )


class NewKeyOut(KeyOut):
    token: str = Field(description="The API key itself: shown once, never stored")
