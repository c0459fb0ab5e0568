"""ImageEngine on libvips: header-only probes, and every thumbnail size from one decode."""

from __future__ import annotations

import struct
from typing import Any

import pyvips

from imagelake.domain.errors import CorruptImage, ImageTooLarge, UnsupportedMediaType
from imagelake.domain.images import ImageInfo, ThumbnailSpec
from imagelake.domain.sniff import SNIFF_BYTES, sniff_content_type

# The content types each libvips loader may legitimately be handed.
_LOADER_TYPES = {
    "jpegload": {"image/jpeg"},
    "pngload": {"image/png"},
    "gifload": {"image/gif"},
    "webpload": {"image/webp"},
    "tiffload": {"image/tiff"},
    "heifload": {"image/avif", "image/heic"},
}
# The pyvips-binary libheif decodes AV1 only: HEVC (libde265) is not bundled, so a HEIC
# holding HEVC would pass the header read and fail at decode. Refuse it up front.
HEIF_CODECS = frozenset({"av1"})
_WHITE = [255.0, 255.0, 255.0]


def _reason(exc: pyvips.Error) -> str:
    """The root cause from libvips' error log, without its generic wrapper lines."""
    lines = [line.strip() for line in str(exc.detail or "").splitlines()]
    useful = [
        line
        for line in lines
        if line and not line.startswith("source:") and not line.endswith("load error")
    ]
    return (useful[0] if useful else str(exc.message))[:200]


class VipsEngine:
    """Thumbnails with libvips. `threads` sets libvips' worker threads for the whole process."""

    def __init__(self, max_pixels: int, threads: int | None = None) -> None:
        # Caching operations would keep references to whole uploaded originals.
        pyvips.cache_set_max(0)
        if threads is not None:
            pyvips.concurrency_set(threads)
        self.max_pixels = max_pixels

    def probe(self, data: bytes) -> ImageInfo:
        return self._header(data)[0]

    def thumbnails(self, data: bytes, spec: ThumbnailSpec) -> dict[int, bytes]:
        info, needs_srgb = self._header(data)
        try:
            image = _decode(data, info, max(spec.sizes), needs_srgb)
            # Render once: every smaller size is resized from these pixels, not decoded again.
            image = _as_srgb(image, flatten=spec.format == "jpeg").copy_memory()
            shape = (info.width, info.height)
            return {size: _encode(_fit(image, size, shape), spec) for size in spec.sizes}
        except pyvips.Error as exc:
            if "not been built in" in str(exc.detail):
                raise UnsupportedMediaType(f"cannot decode this image: {_reason(exc)}") from exc
            raise CorruptImage(f"cannot decode the image: {_reason(exc)}") from exc

    def _header(self, data: bytes) -> tuple[ImageInfo, bool]:
        """What the header says, and whether its colours need converting; refuses bombs."""
        content_type = sniff_content_type(data[:SNIFF_BYTES])
        try:
            header = pyvips.Image.new_from_source(_source(data), "", access="sequential")
            loader = str(header.get("vips-loader")).split("_")[0]
            codec = (
                str(header.get("heif-compression")) if header.get_typeof("heif-compression") else ""
            )
            orientation = int(header.get("orientation")) if header.get_typeof("orientation") else 1
            page_height = int(header.get("page-height")) if header.get_typeof("page-height") else 0
            width, height = int(header.width), page_height or int(header.height)
            profile = (
                header.get("icc-profile-data") if header.get_typeof("icc-profile-data") else b""
            )
        except pyvips.Error as exc:
            raise CorruptImage(f"cannot read the {content_type} header: {_reason(exc)}") from exc
        if content_type not in _LOADER_TYPES.get(loader, set()):
            raise UnsupportedMediaType(f"{content_type} data was read as {loader}: not supported")
        if codec and codec not in HEIF_CODECS:
            raise UnsupportedMediaType(f"{content_type} compressed with {codec} is not supported")
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        if width * height > self.max_pixels:
            raise ImageTooLarge(
                f"{width}x{height} is {width * height} pixels; the limit is {self.max_pixels}"
            )
        info = ImageInfo(content_type=content_type, width=width, height=height)
        return info, bool(profile) and not _is_srgb(bytes(profile))


def _decode(data: bytes, info: ImageInfo, size: int, needs_srgb: bool) -> Any:
    """Decode straight to about `size` on the long side, shrinking while loading if possible."""
    options: dict[str, Any] = {"height": size, "size": "down"}
    if needs_srgb:
        options["output_profile"] = "srgb"
    if info.content_type == "image/jpeg":
        # libvips keeps a 2x margin above the target when it picks the DCT shrink; taking the
        # largest factor that stays at or above the target (as sharp does) decodes 4x fewer
        # pixels for most camera photos, and the final Lanczos step still sets the size.
        image = pyvips.Image.new_from_source(
            _source(data),
            "",
            shrink=jpeg_shrink(info.width, info.height, size),
            fail_on="error",
            access="sequential",
        )
        return image.thumbnail_image(size, **options)
    # The fail_on keyword is ignored by thumbnail_source; the loader option is not.
    return pyvips.Image.thumbnail_source(
        _source(data), size, option_string="fail_on=error", **options
    )


def jpeg_shrink(width: int, height: int, size: int) -> int:
    """The largest DCT scale-down (1, 2, 4 or 8) that keeps the long side at least `size`."""
    factor = max(width, height) / size
    return next(s for s in (8, 4, 2, 1) if s <= max(factor, 1))


def _source(data: bytes) -> Any:
    """The bytes as libvips input, read in place: `new_from_buffer` copies them first."""
    return pyvips.Source.new_from_memory(data)


def _is_srgb(profile: bytes) -> bool:
    """Whether an ICC profile names itself sRGB: its pixels then need no transform."""
    try:
        if profile[16:20] != b"RGB ":
            return False
        (count,) = struct.unpack_from(">I", profile, 128)
        for index in range(min(count, 64)):
            tag, offset, size = struct.unpack_from(">4sII", profile, 132 + 12 * index)
            if tag == b"desc":
                text = profile[offset : offset + size]
                return b"sRGB" in text or "sRGB".encode("utf-16-be") in text
    except struct.error:
        pass
    return False


def _as_srgb(image: Any, flatten: bool) -> Any:
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    if flatten and image.hasalpha():
        image = image.flatten(background=_WHITE)
    return image


def _fit(image: Any, size: int, shape: tuple[int, int]) -> Any:
    """Resize so the long side is exactly `size`; never enlarge.

    The short side comes from the original's `shape` (as displayed), not from the already
    rounded intermediate, so every size keeps the original's aspect to the pixel.
    """
    width, height = int(image.width), int(image.height)
    original_w, original_h = shape
    long_side = max(original_w, original_h)
    scale = min(1.0, size / long_side)
    # Pick each axis' scale from the rounded target so libvips cannot land one pixel off.
    target_w = min(size, original_w) if original_w == long_side else round(original_w * scale)
    target_h = min(size, original_h) if original_h == long_side else round(original_h * scale)
    target_w, target_h = max(1, target_w), max(1, target_h)
    if (target_w, target_h) == (width, height):
        return image
    alpha = image.hasalpha()
    if alpha:
        image = image.premultiply()
    image = image.resize(target_w / width, vscale=target_h / height)
    if alpha:
        image = image.unpremultiply().cast("uchar")
    return image


def _encode(image: Any, spec: ThumbnailSpec) -> bytes:
    if spec.format == "jpeg":
        return bytes(image.jpegsave_buffer(Q=spec.quality, keep="none"))
    if spec.format == "webp":
        return bytes(image.webpsave_buffer(Q=spec.quality, keep="none"))
    if spec.format == "avif":
        # Effort 2: the default (4) is many times slower for a few percent fewer bytes.
        return bytes(
            image.heifsave_buffer(Q=spec.quality, keep="none", compression="av1", effort=2)
        )
    raise ValueError(f"unknown thumbnail format {spec.format!r}")
