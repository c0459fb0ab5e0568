"""The project's own error types; vendor errors are translated into these at adapter edges."""


class ImagelakeError(Exception):
    """Base of every error imagelake raises on purpose."""

    code = "error"

    def __init__(self, message: str, details: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.details = details


class NotFound(ImagelakeError):
    code = "not_found"


class Conflict(ImagelakeError):
    code = "conflict"


class InvalidInput(ImagelakeError):
    code = "invalid_input"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


class UnsupportedMediaType(InvalidInput):
    code = "unsupported_media_type"


class CorruptImage(InvalidInput):
    code = "corrupt_image"


class ImageTooLarge(InvalidInput):
    """Too many pixels: a decompression bomb, refused before decoding."""

    code = "image_too_large"


class InvalidEvent(InvalidInput):
    code = "invalid_event"


class UploadRejected(InvalidInput):
    """A direct upload whose bytes made no image; keeps the code of the original refusal."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RequestTimeout(InvalidInput):
    """The client sent its request too slowly."""

    code = "request_timeout"


class RateLimited(ImagelakeError):
    """Too many requests; retry_after: whole seconds until the next one is allowed."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unauthorized(ImagelakeError):
    code = "unauthorized"


class Forbidden(ImagelakeError):
    code = "forbidden"


class BackendError(ImagelakeError):
    """A storage, queue or network backend failed; usually worth a retry."""

    code = "backend_error"


class UnreadableData(BackendError):
    """An engine could not read the data it was given (malformed, or out of its range):
    reading the same data again fails the same way."""

    code = "unreadable_data"


class ConfigError(ImagelakeError):
    code = "config_error"
