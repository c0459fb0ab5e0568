"""Tell an image's real type from its first bytes; the Content-Type header is never trusted."""

from __future__ import annotations

from imagelake.domain.errors import CorruptImage, UnsupportedMediaType

SNIFF_BYTES = 32

_HEIF_BRANDS = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heic",
    b"msf1": "image/heic",
    b"hevc": "image/heic",
}


def sniff_content_type(head: bytes) -> str:
    """Return the MIME type of an image from its first bytes, or raise UnsupportedMediaType."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return _HEIF_BRANDS[head[8:12]]
    if not head:
        raise UnsupportedMediaType("the body is empty: send the image bytes")
    raise UnsupportedMediaType(
        "not a supported image: expected JPEG, PNG, WebP, GIF, TIFF, AVIF or HEIC"
    )


def check_complete(data_tail: bytes, content_type: str) -> None:
    """Refuse files whose end marker is missing: the cheap test for a truncated upload."""
    tail = data_tail.rstrip(b"\x00\r\n ")
    if content_type == "image/jpeg" and not tail.endswith(b"\xff\xd9"):
        raise CorruptImage("truncated JPEG: the end-of-image marker is missing")
    if content_type == "image/png" and b"IEND" not in data_tail[-32:]:
        raise CorruptImage("truncated PNG: the IEND chunk is missing")
    if content_type == "image/gif" and not tail.endswith(b";"):
        raise CorruptImage("truncated GIF: the trailer is missing")
