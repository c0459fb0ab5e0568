"""Tell an image's real type from its first bytes; the Content-Type header is never trusted."""

from __future__ import annotations

import struct

from imagelake.domain.errors import CorruptImage, UnsupportedMediaType

SNIFF_BYTES = 32
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

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
    if head.startswith(PNG_SIGNATURE):
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


def png_size(head: bytes) -> tuple[int, int] | None:
    """The width and height a PNG's IHDR chunk declares, if `head` holds one."""
    if not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR" or len(head) < 24:
        return None
    width, height = struct.unpack_from(">II", head, 16)
    return int(width), int(height)


def check_complete(data: bytes, content_type: str) -> None:
    """Refuse a file cut short: its structure ends before its end marker.

    Bytes after the end marker are allowed (Android Motion Photos append a video to the
    JPEG, cameras a second picture): the decoders stop at the marker.
    """
    found = {"image/jpeg": _jpeg_ends, "image/png": _png_ends, "image/gif": _gif_ends}.get(
        content_type
    )
    if found is not None and not found(data):
        kind = content_type.removeprefix("image/").upper()
        raise CorruptImage(f"truncated {kind}: the file ends before its {_END_MARKERS[kind]}")


_END_MARKERS = {"JPEG": "end-of-image marker", "PNG": "IEND chunk", "GIF": "trailer"}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # JPEG markers without a length


def _jpeg_ends(data: bytes) -> bool:
    """Whether the end-of-image marker follows the segments and the first scan.

    Marker segments are skipped by their lengths (an EXIF thumbnail holds a JPEG of its
    own). Past the first start-of-scan, a 0xFF byte in the coded data is always stuffed
    (0xFF00) or a restart marker, so the first 0xFFD9 is the end of the image.
    """
    pos = 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF:  # padding before a marker: libjpeg skips it, and so do we
            pos = data.find(b"\xff", pos)
            if pos == -1:
                return False
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker == 0xD9:
            return True
        elif marker == 0xDA:
            return data.find(b"\xff\xd9", pos) != -1
        elif marker in _STANDALONE:
            pos += 2
        else:
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return False


def _png_ends(data: bytes) -> bool:
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IEND":
            return pos + 12 <= len(data)
        pos += 12 + length  # length, type, data, CRC
    return False


def _gif_ends(data: bytes) -> bool:
    """Whether the trailer follows the last block (extensions and frames in sub-blocks)."""
    pos = 13 + _colour_table(data, 10)  # header and logical screen descriptor
    while pos < len(data):
        block = data[pos]
        if block == 0x3B:
            return True
        if block == 0x21:  # extension: label, then sub-blocks
            pos += 2
        elif block == 0x2C:  # image descriptor, colour table, LZW code size, sub-blocks
            pos += 11 + _colour_table(data, pos + 9)
        else:
            return True  # not a block: the decoder says what is wrong
        while pos < len(data) and data[pos]:
            pos += 1 + data[pos]
        pos += 1  # the terminating empty sub-block
    return False


def _colour_table(data: bytes, flags_at: int) -> int:
    """The size of the colour table a GIF descriptor's packed byte announces."""
    if flags_at >= len(data) or not data[flags_at] & 0x80:
        return 0
    return 3 << ((data[flags_at] & 0x07) + 1)
