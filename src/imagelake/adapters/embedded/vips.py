"""ImageEngine on libvips: header-only probes, every thumbnail size from one decode, and
variants (rendered in vips_render.py)."""

from __future__ import annotations

import re
import struct
from typing import Any

import pyvips

from imagelake.adapters.embedded.heif import HeicImage
from imagelake.adapters.embedded.vips_errors import WARNINGS, reason, translate
from imagelake.domain.errors import ImageTooLarge, UnsupportedMediaType
from imagelake.domain.images import ImageInfo, ThumbnailSpec
from imagelake.domain.sniff import SNIFF_BYTES, png_size, sniff_content_type
from imagelake.domain.variants import Render
from imagelake.ports import Rendered

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
# holding HEVC would pass the header read and fail at decode. pillow-heif reads those.
HEIF_CODECS = frozenset({"av1"})
_WHITE = [255.0, 255.0, 255.0]
_HEADER_FIELDS = ("heif-compression", "orientation", "page-height", "icc-profile-data")
# How strict each loader is. libjpeg reports damaged coded data only as a warning (and
# paints the rest grey), libnsgif a frame whose data stops early; the other loaders fail
# on damage at "error", where libtiff's warnings about unknown tags do not count.
_FAIL_ON = {"image/jpeg": "warning", "image/gif": "warning"}
# libjpeg's warnings about pixels that are whole: padding between segments (not before a
# restart marker, inside the coded data), header oddities of some cameras and encoders.
_INTACT_JPEG = re.compile(
    r"extraneous bytes before marker 0x(?!d[0-7])|unknown JFIF revision|Adobe color transform"
    r"|Invalid SOS parameters|Inconsistent progression sequence"
)
# libvips' default VIPS_MAX_COORD: libpng refuses a longer side before saying its size.
MAX_SIDE = 100_000_000


class VipsEngine:
    """Thumbnails with libvips. `threads` sets libvips' worker threads for the whole process."""

    def __init__(self, max_pixels: int, threads: int | None = None) -> None:
        # Caching operations would keep references to whole uploaded originals.
        pyvips.cache_set_max(0)
        WARNINGS.install()
        if threads is not None:
            pyvips.concurrency_set(threads)
        self.max_pixels = max_pixels

    def probe(self, data: bytes) -> ImageInfo:
        return self._header(data)[0]

    def thumbnails(self, data: bytes, spec: ThumbnailSpec) -> dict[int, bytes]:
        info, needs_srgb, heic = self._header(data)
        with WARNINGS.collect() as warnings:
            try:
                if heic is None:
                    image = _render_strictly(data, info, spec, needs_srgb)
                else:
                    image = _render_pixels(heic.pixels(), spec, needs_srgb)
                shape = (info.width, info.height)
                return {size: _encode(_fit(image, size, shape), spec) for size in spec.sizes}
            except pyvips.Error as exc:
                raise translate(exc, "cannot decode the image", warnings()) from exc

    def render(self, data: bytes, render: Render) -> Rendered:
        # Imported here: vips_render builds on this module's helpers.
        from imagelake.adapters.embedded.vips_render import render_variant

        info, needs_srgb, heic = self._header(data)
        return render_variant(data, render, info, needs_srgb, heic, self.max_pixels)

    def _header(self, data: bytes) -> tuple[ImageInfo, bool, HeicImage | None]:
        """What the header says, whether its colours need converting, and the HEIC to decode
        with pillow-heif where libvips cannot; refuses bombs."""
        content_type = sniff_content_type(data[:SNIFF_BYTES])
        declared = png_size(data[:SNIFF_BYTES])
        if declared is not None:  # libpng refuses a side over MAX_SIDE without its size
            self._check_size(*declared)
        with WARNINGS.collect() as warnings:
            try:
                header = pyvips.Image.new_from_source(_source(data), "", access="sequential")
                loader = str(header.get("vips-loader")).split("_")[0]
                fields = {
                    name: header.get(name) if header.get_typeof(name) else None
                    for name in _HEADER_FIELDS
                }
            except pyvips.Error as exc:
                if content_type == "image/heic":
                    return self._heic_header(data)
                raise translate(exc, f"cannot read the {content_type} header", warnings()) from exc
        codec, profile = str(fields["heif-compression"] or ""), fields["icc-profile-data"] or b""
        width, height = int(header.width), int(fields["page-height"] or header.height)
        if content_type not in _LOADER_TYPES.get(loader, set()):
            raise UnsupportedMediaType(f"{content_type} data was read as {loader}: not supported")
        if codec and codec not in HEIF_CODECS:
            if content_type == "image/heic":
                return self._heic_header(data)
            raise UnsupportedMediaType(f"{content_type} compressed with {codec} is not supported")
        if fields["orientation"] in (5, 6, 7, 8):
            width, height = height, width
        self._check_size(width, height)
        info = ImageInfo(content_type=content_type, width=width, height=height)
        return info, bool(profile) and not _is_srgb(bytes(profile)), None

    def _heic_header(self, data: bytes) -> tuple[ImageInfo, bool, HeicImage]:
        heic = HeicImage(data)  # reads the header only
        self._check_size(heic.width, heic.height)
        info = ImageInfo(content_type="image/heic", width=heic.width, height=heic.height)
        return info, bool(heic.profile) and not _is_srgb(heic.profile), heic

    def _check_size(self, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise ImageTooLarge(
                f"{width}x{height} is {width * height} pixels; the limit is {self.max_pixels}"
            )
        if max(width, height) > MAX_SIDE:
            raise ImageTooLarge(f"{width}x{height}: the longest side libvips reads is {MAX_SIDE}")


def _render_strictly(data: bytes, info: ImageInfo, spec: ThumbnailSpec, needs_srgb: bool) -> Any:
    """_render() as strict as the format allows. A JPEG whose only complaint is about pixels
    that are whole is decoded again, leniently: only the first warning is ever told."""
    try:
        return _render(data, info, spec, needs_srgb, _FAIL_ON.get(info.content_type, "error"))
    except pyvips.Error as exc:
        if info.content_type != "image/jpeg" or not _INTACT_JPEG.search(reason(exc)):
            raise
    return _render(data, info, spec, needs_srgb, "error")


def _render(
    data: bytes, info: ImageInfo, spec: ThumbnailSpec, needs_srgb: bool, fail_on: str
) -> Any:
    """The pixels every size is made from, decoded once, in memory."""
    image = _decode(data, info, max(spec.sizes), needs_srgb, fail_on)
    # Render once: every smaller size is resized from these pixels, not decoded again.
    return _as_srgb(image, flatten=spec.format == "jpeg").copy_memory()


def _render_pixels(image: Any, spec: ThumbnailSpec, needs_srgb: bool) -> Any:
    """_render() for pixels decoded outside libvips (with their ICC profile attached)."""
    options: dict[str, Any] = {"height": max(spec.sizes), "size": "down"}
    if needs_srgb:
        options["output_profile"] = "srgb"
    image = image.thumbnail_image(max(spec.sizes), **options)
    return _as_srgb(image, flatten=spec.format == "jpeg").copy_memory()


def _decode(data: bytes, info: ImageInfo, size: int, needs_srgb: bool, fail_on: str) -> Any:
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
            fail_on=fail_on,
            access="sequential",
        )
        return image.thumbnail_image(size, **options)
    # The fail_on keyword is ignored by thumbnail_source; the loader option is not.
    return pyvips.Image.thumbnail_source(
        _source(data), size, option_string=f"fail_on={fail_on}", **options
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
