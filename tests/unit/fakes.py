"""An ImageEngine without libvips, and the PNGs it reads, for tests whose point is not decoding.

FakeImageEngine keeps the port's promises: probe() reads only the header (a PNG's IHDR),
thumbnails() "decodes" first (every chunk is walked, its CRC checked and the pixel data
inflated, so a cut or damaged file fails as it would in libvips) and fits each size with
the long side == size, never upscaled. It reads PNG only: any other image type is refused
as unsupported, garbage as libvips' engine refuses it. A thumbnail is a small header
(THUMBNAIL) naming its format and size, followed by a digest of the original: the same
bytes for the same image and size, every time. render() "decodes" alike and gives a valid
PNG of the variant's size (as VipsEngine sizes it), whatever format the content type names:
PNG when JPEG was asked with png_if_alpha and the source has alpha. It has one frame.
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib

from imagelake.domain.errors import CorruptImage, ImageTooLarge, UnsupportedMediaType
from imagelake.domain.images import ImageInfo, ThumbnailSpec
from imagelake.domain.sniff import SNIFF_BYTES, sniff_content_type
from imagelake.domain.variants import CONTENT_TYPES, Fit, Format, Render, Variant
from imagelake.ports import Rendered

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Width, height, bit depth, colour type, compression, filter, interlace.
IHDR = struct.Struct(">IIBBBBB")
CHUNK_HEAD = struct.Struct(">I4s")  # length, type; the body and a CRC-32 follow
SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # per pixel, by colour type
THUMBNAIL = struct.Struct(">8s4sII")  # magic, format, width, height
THUMBNAIL_MAGIC = b"FAKETHMB"
DEFAULT_MAX_PIXELS = 100_000_000


def _chunk(kind: bytes, body: bytes) -> bytes:
    return CHUNK_HEAD.pack(len(body), kind) + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A valid 8-bit RGB PNG of width x height (libvips decodes it too); each seed in
    0-255 gives other pixels, so other bytes."""
    row = b"\x00" + bytes((seed + i) % 256 for i in range(width * 3))  # filter type 0
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", IHDR.pack(width, height, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )


def truncated_png(width: int = 600, height: int = 400) -> bytes:
    """Its pixel data cut in half, in whole chunks up to IEND: it passes every upload check,
    and only decoding it fails."""
    whole = png(width, height)
    pixels = whole[8 + 25 + CHUNK_HEAD.size : -12 - 4]  # the IDAT chunk's body
    return whole[: 8 + 25] + _chunk(b"IDAT", pixels[: len(pixels) // 2]) + whole[-12:]


def fitted(width: int, height: int, size: int) -> tuple[int, int]:
    """The long side made `size` (never enlarged), the short side rounded to keep the aspect."""
    scale = min(1.0, size / max(width, height))
    if width >= height:
        return min(size, width), max(1, round(height * scale))
    return max(1, round(width * scale)), min(size, height)


def rendered_size(width: int, height: int, variant: Variant) -> tuple[int, int]:
    """A variant's output size, as VipsEngine's: without enlarge, a fixed box that would
    need scaling up is shrunk (its aspect kept) until it needs none."""
    w, h = variant.w, variant.h
    if not w and not h:
        return width, height
    if not w or not h or variant.fit == Fit.INSIDE:
        scale = min(w / width if w else math.inf, h / height if h else math.inf)
        scale = scale if variant.enlarge else min(scale, 1.0)
        return max(1, round(width * scale)), max(1, round(height * scale))
    spare = (max if variant.fit == Fit.CONTAIN else min)(width / w, height / h)
    k = 1.0 if variant.enlarge else min(1.0, spare)
    return max(1, round(w * k)), max(1, round(h * k))


def thumbnail_size(thumbnail: bytes) -> tuple[int, int]:
    """The (width, height) of a thumbnail FakeImageEngine made."""
    magic, _, width, height = THUMBNAIL.unpack_from(thumbnail)
    assert magic == THUMBNAIL_MAGIC, "not a thumbnail of the fake engine"
    return width, height


class FakeImageEngine:
    def __init__(self, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.max_pixels = max_pixels

    def probe(self, data: bytes) -> ImageInfo:
        content_type = sniff_content_type(data[:SNIFF_BYTES])  # UnsupportedMediaType
        if content_type != "image/png":
            raise UnsupportedMediaType(f"{content_type}: the fake engine reads PNG only")
        if len(data) < 8 + CHUNK_HEAD.size + IHDR.size or data[12:16] != b"IHDR":
            raise CorruptImage("cannot read the image/png header: no IHDR chunk")
        width, height, depth, colour, *_ = IHDR.unpack_from(data, 16)
        if not width or not height or colour not in SAMPLES or depth not in (1, 2, 4, 8, 16):
            raise CorruptImage(f"cannot read the image/png header: {width}x{height}")
        if width * height > self.max_pixels:
            raise ImageTooLarge(
                f"{width}x{height} is {width * height} pixels; the limit is {self.max_pixels}"
            )
        return ImageInfo(content_type=content_type, width=width, height=height)

    def thumbnails(self, data: bytes, spec: ThumbnailSpec) -> dict[int, bytes]:
        info = self.probe(data)
        _decode(data)
        kind = spec.format.encode()[:4].ljust(4)
        digest = hashlib.sha256(data).digest()[:16]
        return {
            size: THUMBNAIL.pack(THUMBNAIL_MAGIC, kind, *fitted(info.width, info.height, size))
            + digest
            for size in spec.sizes
        }

    def render(self, data: bytes, render: Render) -> Rendered:
        info = self.probe(data)
        _decode(data)
        fmt = render.variant.format
        if fmt == Format.JPEG and render.png_if_alpha and data[25] in (4, 6):  # colour type
            fmt = Format.PNG
        size = rendered_size(info.width, info.height, render.variant)
        return Rendered(png(*size, seed=hashlib.sha256(data).digest()[0]), CONTENT_TYPES[fmt])


def _decode(data: bytes) -> None:
    """Walk the chunks to IEND and inflate the pixel data; CorruptImage where that fails."""
    width, height, depth, colour, _, _, interlace = IHDR.unpack_from(data, 16)
    offset, pixels = len(PNG_SIGNATURE), b""
    kind = b""
    while kind != b"IEND":
        if offset + CHUNK_HEAD.size > len(data):
            raise CorruptImage("cannot decode the image: it ends before its IEND chunk")
        length, kind = CHUNK_HEAD.unpack_from(data, offset)
        body_at = offset + CHUNK_HEAD.size
        offset = body_at + length + 4
        if offset > len(data):
            raise CorruptImage(f"cannot decode the image: chunk {kind!r} is cut short")
        body = data[body_at : body_at + length]
        (crc,) = struct.unpack_from(">I", data, body_at + length)
        if crc != zlib.crc32(kind + body):
            raise CorruptImage(f"cannot decode the image: chunk {kind!r} is damaged")
        if kind == b"IDAT":
            pixels += body
    try:
        rows = zlib.decompress(pixels)
    except zlib.error as exc:
        raise CorruptImage(f"cannot decode the image: {exc}") from exc
    stride = 1 + (width * SAMPLES[colour] * depth + 7) // 8  # a filter byte, then the row
    if not interlace and len(rows) != height * stride:
        raise CorruptImage(f"cannot decode the image: {len(rows)} bytes of pixel rows")
