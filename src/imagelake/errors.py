"""Public home of imagelake's error types."""

from imagelake.domain.errors import (
    BackendError,
    ConfigError,
    Conflict,
    CorruptImage,
    Forbidden,
    ImagelakeError,
    ImageTooLarge,
    InvalidEvent,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    UploadRejected,
)

__all__ = [
    "BackendError",
    "ConfigError",
    "Conflict",
    "CorruptImage",
    "Forbidden",
    "ImageTooLarge",
    "ImagelakeError",
    "InvalidEvent",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "UnsupportedMediaType",
    "UploadRejected",
]
