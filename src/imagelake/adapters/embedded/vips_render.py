"""One variant of an original with libvips (VipsEngine.render): resize, crop, encode.

Every frame is decoded straight to the size it is resized to (JPEG's DCT shrink, WebP's
scale, libvips' thumbnail otherwise) with the EXIF orientation applied, and resampled once;
`cover` then crops it and `contain` letterboxes it. Decoding is as strict as `thumbnails`.

Choices (what the README says):

- Never scaled up without `enlarge`. `inside` keeps the source's size when it already fits.
  A fixed box (`cover`, `contain`, `fill`) that would need scaling up is shrunk, its aspect
  kept, to the largest size that needs none: `cover` and `fill` give the largest box-shaped
  part of the source at its own pixels (cropped by gravity; stretched never), `contain` the
  smallest box-shaped canvas around the whole source. Like sharp's `withoutEnlargement`,
  no pixel is scaled up; unlike it, the output always has the box's aspect ratio.
- `contain` letterboxes with transparency where the output format has alpha (PNG, WebP,
  AVIF, GIF: an opaque source gains an alpha channel only then), with white for JPEG.
  JPEG flattens any alpha onto white; `png_if_alpha` writes PNG instead when the decoded
  source has an alpha channel.
- An animated GIF or WebP stays animated when the output format animates (GIF, WebP) and
  `max_frames` > 1: the first frames are kept, each resized alike (a smart crop is found on
  the first frame and applied to all), with their delays and loop count. Frames beyond
  `max_frames` are dropped, and so are those beyond the engine's pixel limit: the frames
  decoded (source size x frames) and the frames resized (output size x frames) stay within
  `max_pixels`. At least one frame is always written; the first frame alone was already
  checked as the source. Still formats (JPEG, PNG, AVIF) get the first frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pyvips

from imagelake.adapters.embedded.heif import HeicImage
from imagelake.adapters.embedded.vips import _FAIL_ON, _INTACT_JPEG, _WHITE, _as_srgb, _source
from imagelake.adapters.embedded.vips_errors import WARNINGS, reason, translate
from imagelake.domain.images import ImageInfo
from imagelake.domain.variants import ANIMATED, CONTENT_TYPES, Fit, Format, Gravity, Render
from imagelake.ports import Rendered

T = TypeVar("T")
DEFAULT_QUALITY = 80  # for a lossy format asked for with quality 0 (the domain sets one)
_ANIMATED_SOURCES = frozenset({"image/gif", "image/webp"})
_ALPHA_FORMATS = frozenset({Format.PNG, Format.WEBP, Format.AVIF, Format.GIF})
_TRANSPARENT = [0.0, 0.0, 0.0, 0.0]
# Where each compass gravity puts the crop: the fraction of the spare width and height
# left of and above it.
_GRAVITY = {
    Gravity.CENTER: (0.5, 0.5),
    Gravity.NORTH: (0.5, 0.0),
    Gravity.NORTHEAST: (1.0, 0.0),
    Gravity.EAST: (1.0, 0.5),
    Gravity.SOUTHEAST: (1.0, 1.0),
    Gravity.SOUTH: (0.5, 1.0),
    Gravity.SOUTHWEST: (0.0, 1.0),
    Gravity.WEST: (0.0, 0.5),
    Gravity.NORTHWEST: (0.0, 0.0),
}


@dataclass(frozen=True)
class Plan:
    """Every frame is resized to `resize`, then cropped (cover) or embedded (contain) to `out`."""

    resize: tuple[int, int]
    out: tuple[int, int]


def plan(width: int, height: int, render: Render) -> Plan:
    """The sizes for a source of width x height (as displayed); see the module's choices."""
    v = render.variant
    if not v.w and not v.h:
        return Plan((width, height), (width, height))
    if not v.w or not v.h or v.fit == Fit.INSIDE:
        scale = min(v.w / width if v.w else math.inf, v.h / height if v.h else math.inf)
        size = _scaled(width, height, scale if v.enlarge else min(scale, 1.0))
        return Plan(size, size)
    spare = (
        max(width / v.w, height / v.h) if v.fit == Fit.CONTAIN else min(width / v.w, height / v.h)
    )
    k = 1.0 if v.enlarge else min(1.0, spare)  # the box shrunk until nothing is scaled up
    box = (max(1, round(v.w * k)), max(1, round(v.h * k)))
    if v.fit == Fit.FILL:
        return Plan(box, box)
    if v.fit == Fit.COVER:
        scaled = _scaled(width, height, max(box[0] / width, box[1] / height))
        return Plan((max(box[0], scaled[0]), max(box[1], scaled[1])), box)
    scaled = _scaled(width, height, min(box[0] / width, box[1] / height))
    return Plan((min(box[0], scaled[0]), min(box[1], scaled[1])), box)


def render_variant(
    data: bytes,
    render: Render,
    info: ImageInfo,
    needs_srgb: bool,
    heic: HeicImage | None,
    max_pixels: int,
) -> Rendered:
    """The variant `render` asks for of an original whose header `info` describes (its size
    already checked). CorruptImage when the pixels cannot be decoded."""
    sizes = plan(info.width, info.height, render)
    with WARNINGS.collect() as warnings:
        try:
            frames = _frames(data, info, render, sizes, max_pixels)
            if heic is not None:
                return _finish(_resize(heic.pixels(), sizes, needs_srgb), render, sizes, 1)

            def attempt(fail_on: str) -> Rendered:
                image = _decode(data, info, sizes, needs_srgb, fail_on, frames)
                return _finish(image, render, sizes, frames)

            return _strictly(info.content_type, attempt)
        except pyvips.Error as exc:
            raise translate(exc, "cannot decode the image", warnings()) from exc


def _frames(data: bytes, info: ImageInfo, render: Render, sizes: Plan, max_pixels: int) -> int:
    """How many frames to decode and write: 1 unless an animation stays animated."""
    if (
        render.variant.format not in ANIMATED
        or render.max_frames <= 1
        or info.content_type not in _ANIMATED_SOURCES
    ):
        return 1
    header = pyvips.Image.new_from_source(_source(data), "", access="sequential")
    pages = int(header.get("n-pages")) if header.get_typeof("n-pages") else 1
    per_frame = max(
        info.width * info.height,
        sizes.resize[0] * sizes.resize[1],
        sizes.out[0] * sizes.out[1],
    )
    return max(1, min(pages, render.max_frames, max_pixels // per_frame))


def _strictly(content_type: str, attempt: Callable[[str], T]) -> T:
    """attempt() as strict as the format allows, as `_render_strictly` does for thumbnails.
    The pixels are decoded lazily, so the attempt must encode too."""
    try:
        return attempt(_FAIL_ON.get(content_type, "error"))
    except pyvips.Error as exc:
        if content_type != "image/jpeg" or not _INTACT_JPEG.search(reason(exc)):
            raise
    return attempt("error")


def _decode(
    data: bytes, info: ImageInfo, sizes: Plan, needs_srgb: bool, fail_on: str, frames: int
) -> Any:
    """Every frame decoded and resized to exactly `sizes.resize`, shrinking while loading."""
    width, height = sizes.resize
    if info.content_type == "image/jpeg":
        factor = min(info.width / width, info.height / height)
        shrink = next(s for s in (8, 4, 2, 1) if s <= max(factor, 1))
        image = pyvips.Image.new_from_source(
            _source(data), "", shrink=shrink, fail_on=fail_on, access="sequential"
        )
        return _resize(image, sizes, needs_srgb)
    options = f"fail_on={fail_on}" + (f",n={frames}" if frames > 1 else "")
    image = pyvips.Image.thumbnail_source(
        _source(data), width, option_string=options, **_thumbnail_options(sizes, needs_srgb)
    )
    return _truncate_delays(image, frames)


def _resize(image: Any, sizes: Plan, needs_srgb: bool) -> Any:
    """thumbnail_image() to exactly `sizes.resize` (autorotated), for pixels already loaded."""
    return image.thumbnail_image(sizes.resize[0], **_thumbnail_options(sizes, needs_srgb))


def _thumbnail_options(sizes: Plan, needs_srgb: bool) -> dict[str, Any]:
    # "force": the plan's size to the pixel; it keeps the aspect already (or fill ignores it).
    options: dict[str, Any] = {"height": sizes.resize[1], "size": "force"}
    if needs_srgb:
        options["output_profile"] = "srgb"
    return options


def _truncate_delays(image: Any, frames: int) -> Any:
    """Only the loaded frames' delays: a loader gives every frame's."""
    if frames > 1 and image.get_typeof("delay"):
        delays = list(image.get("delay"))
        if len(delays) > frames:
            image = image.copy()
            image.set_type(pyvips.GValue.array_int_type, "delay", delays[:frames])
    return image


def _finish(image: Any, render: Render, sizes: Plan, frames: int) -> Rendered:
    """Crop or letterbox the resized frames to the output size, and encode them."""
    fmt = render.variant.format
    if fmt == Format.JPEG and render.png_if_alpha and image.hasalpha():
        fmt = Format.PNG
    image = _as_srgb(image, flatten=fmt == Format.JPEG)
    if sizes.resize != sizes.out:
        if render.variant.fit == Fit.COVER:
            image = _cover(image, sizes.out, render.variant.gravity, frames)
        else:
            image = _contain(image, sizes.out, fmt in _ALPHA_FORMATS, frames)
    return Rendered(_encode(image, fmt, render.variant.quality), CONTENT_TYPES[fmt], frames)


def _cover(image: Any, box: tuple[int, int], gravity: Gravity, frames: int) -> Any:
    width, height = box
    page_height = image.height // frames
    spare_x, spare_y = image.width - width, page_height - height
    if gravity == Gravity.SMART:
        image = image.copy_memory()  # the attention search reads the pixels twice
        first = image.crop(0, 0, image.width, page_height) if frames > 1 else image
        _, found = first.smartcrop(
            width, height, interesting="attention", attention_x=True, attention_y=True
        )
        # Where libvips' own smartcrop puts it: centred on the attention, inside the frame.
        left = min(max(int(found["attention_x"]) - width // 2, 0), spare_x)
        top = min(max(int(found["attention_y"]) - height // 2, 0), spare_y)
    else:
        across, down = _GRAVITY[gravity]
        left, top = int(spare_x * across), int(spare_y * down)
    return _each_frame(image, frames, lambda frame: frame.crop(left, top, width, height))


def _contain(image: Any, box: tuple[int, int], transparent: bool, frames: int) -> Any:
    width, height = box
    if transparent and not image.hasalpha():
        image = image.bandjoin(255)
    background = _TRANSPARENT if transparent else _WHITE  # JPEG's alpha is flattened by now
    left, top = (width - image.width) // 2, (height - image.height // frames) // 2

    def embed(frame: Any) -> Any:
        return frame.embed(left, top, width, height, extend="background", background=background)

    return _each_frame(image, frames, embed)


def _each_frame(image: Any, frames: int, change: Callable[[Any], Any]) -> Any:
    """change() on every frame of a strip of `frames` equal frames, joined again."""
    if frames == 1:
        return change(image)
    page_height = image.height // frames
    pages = [
        change(image.crop(0, i * page_height, image.width, page_height)) for i in range(frames)
    ]
    joined = pyvips.Image.arrayjoin(pages, across=1).copy()
    joined.set_type(pyvips.GValue.gint_type, "page-height", int(pages[0].height))
    return joined


def _encode(image: Any, fmt: Format, quality: int) -> bytes:
    q = quality or DEFAULT_QUALITY
    if fmt == Format.JPEG:
        return bytes(image.jpegsave_buffer(Q=q, keep="none"))
    if fmt == Format.WEBP:
        return bytes(image.webpsave_buffer(Q=q, keep="none"))
    if fmt == Format.AVIF:
        # Effort 2, as for thumbnails: the default (4) is many times slower for little gain.
        return bytes(image.heifsave_buffer(Q=q, keep="none", compression="av1", effort=2))
    if fmt == Format.PNG:
        return bytes(image.pngsave_buffer(compression=6, keep="none"))
    if fmt == Format.GIF:
        # Effort 1: the default (7) quantises each frame about 6x slower for ~7% fewer bytes.
        return bytes(image.gifsave_buffer(keep="none", effort=1))
    raise ValueError(f"cannot render format {fmt!r}")


def _scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))
