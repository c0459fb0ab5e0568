"""VipsEngine.render against real libvips, on images drawn at test time."""

from __future__ import annotations

import pytest
import pyvips

from imagelake.adapters.embedded.vips import VipsEngine
from imagelake.adapters.embedded.vips_render import plan
from imagelake.domain.errors import CorruptImage, ImageTooLarge
from imagelake.domain.variants import Fit, Format, Gravity, Render, Variant
from imagelake.ports import Rendered
from tests.photos import (
    damaged_in_the_middle,
    decompression_bomb,
    encode,
    hevc_heic,
    large_photo,
    oriented,
)
from tests.unit.fakes import truncated_png

MAX_PIXELS = 50_000_000
MAGIC = {
    Format.JPEG: b"\xff\xd8\xff",
    Format.PNG: b"\x89PNG\r\n\x1a\n",
    Format.GIF: b"GIF8",
    Format.WEBP: b"RIFF",
    Format.AVIF: b"ftypavif",
}
RED, BLUE, GREEN = [255, 0, 0], [0, 0, 255], [0, 255, 0]
FRAME_COLOURS = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255]]


@pytest.fixture(scope="module")
def engine() -> VipsEngine:
    return VipsEngine(MAX_PIXELS)


def render(
    engine: VipsEngine,
    data: bytes,
    max_frames: int = 1,
    png_if_alpha: bool = False,
    **variant: object,
) -> Rendered:
    fmt = variant.setdefault("format", Format.PNG)
    variant.setdefault("quality", 80 if fmt in (Format.JPEG, Format.WEBP, Format.AVIF) else 0)
    v = Variant(**variant).normalised()  # type: ignore[arg-type]
    return engine.render(data, Render(v, png_if_alpha=png_if_alpha, max_frames=max_frames))


def decode(data: bytes) -> pyvips.Image:
    """Every frame, as a strip with its page-height."""
    animated = data[:4] == b"GIF8" or data[8:12] == b"WEBP"
    return pyvips.Image.new_from_buffer(data, "", **({"n": -1} if animated else {}))


def page_height(image: pyvips.Image) -> int:
    return int(image.get("page-height")) if image.get_typeof("page-height") else image.height


def pages(image: pyvips.Image) -> int:
    return int(image.get("n-pages")) if image.get_typeof("n-pages") else 1


def size(rendered: Rendered) -> tuple[int, int]:
    image = decode(rendered.data)
    return image.width, page_height(image)


def solid(width: int, height: int, colour: list[int]) -> pyvips.Image:
    return (pyvips.Image.black(width, height, bands=3) + colour).cast("uchar")


def halves(width: int, height: int, first: list[int], second: list[int], across: bool) -> bytes:
    """Two colours: top and bottom halves (or left and right, `across`)."""
    if across:
        parts = [solid(width // 2, height, first), solid(width // 2, height, second)]
        return encode(parts[0].join(parts[1], "horizontal"), "png")
    parts = [solid(width, height // 2, first), solid(width, height // 2, second)]
    return encode(parts[0].join(parts[1], "vertical"), "png")


def rgba(width: int, height: int, alpha: int) -> pyvips.Image:
    return solid(width, height, [40, 80, 120]).bandjoin(alpha).copy(interpretation="srgb")


def animation(fmt: str, frames: int = 6, width: int = 60, height: int = 40) -> bytes:
    """An animated GIF or WebP: one solid colour a frame, 70 ms each, looping forever."""
    strip = pyvips.Image.arrayjoin(
        [solid(width, height, FRAME_COLOURS[i % 6]) for i in range(frames)], across=1
    ).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [70] * frames)
    strip.set_type(pyvips.GValue.gint_type, "loop", 0)
    return bytes(strip.gifsave_buffer() if fmt == "gif" else strip.webpsave_buffer(lossless=True))


def frame_colour(strip: pyvips.Image, index: int) -> list[float]:
    """The colour at the centre of frame `index`."""
    height = page_height(strip)
    pixel = strip.getpoint(strip.width // 2, index * height + height // 2)
    return [float(v) for v in pixel[:3]]


def close(actual: list[float], expected: list[int], tolerance: float = 40) -> bool:
    """The first three bands (the colour) within `tolerance` of `expected`."""
    return all(abs(a - e) <= tolerance for a, e in zip(actual[:3], expected, strict=True))


SOURCE = (400, 200)  # landscape, 2:1


@pytest.mark.parametrize(
    ("fit", "w", "h", "enlarge", "expected"),
    [
        (Fit.INSIDE, 0, 0, False, (400, 200)),  # full size
        (Fit.INSIDE, 100, 0, False, (100, 50)),  # one side: the other follows
        (Fit.INSIDE, 0, 50, False, (100, 50)),
        (Fit.INSIDE, 100, 100, False, (100, 50)),
        (Fit.INSIDE, 800, 800, False, (400, 200)),  # never upscaled
        (Fit.INSIDE, 800, 800, True, (800, 400)),
        (Fit.INSIDE, 0, 400, True, (800, 400)),
        (Fit.COVER, 100, 100, False, (100, 100)),
        (Fit.COVER, 300, 30, False, (300, 30)),
        (Fit.COVER, 800, 800, False, (200, 200)),  # the box's aspect, the source's pixels
        (Fit.COVER, 800, 800, True, (800, 800)),
        (Fit.CONTAIN, 100, 100, False, (100, 100)),
        (Fit.CONTAIN, 800, 800, False, (400, 400)),  # the smallest square around the source
        (Fit.CONTAIN, 800, 800, True, (800, 800)),
        (Fit.FILL, 100, 100, False, (100, 100)),
        (Fit.FILL, 800, 100, False, (400, 50)),
        (Fit.FILL, 800, 100, True, (800, 100)),
        (Fit.COVER, 100, 0, False, (100, 50)),  # one side: every fit is inside
    ],
)
def test_output_size_for_each_fit(
    engine: VipsEngine,
    fit: Fit,
    w: int,
    h: int,
    enlarge: bool,
    expected: tuple[int, int],
) -> None:
    data = encode(pyvips.Image.gaussnoise(*SOURCE, seed=1).cast("uchar"), "png")
    out = render(engine, data, w=w, h=h, fit=fit, enlarge=enlarge)
    assert size(out) == expected
    assert plan(*SOURCE, Render(Variant(w=w, h=h, fit=fit, enlarge=enlarge).normalised())).out == (
        expected
    )


def test_fill_stretches_and_contain_letterboxes(engine: VipsEngine) -> None:
    data = halves(200, 100, RED, BLUE, across=False)
    filled = decode(render(engine, data, w=100, h=100, fit=Fit.FILL).data)
    assert close(list(filled.getpoint(50, 10)), RED) and close(list(filled.getpoint(50, 90)), BLUE)
    boxed = decode(render(engine, data, w=100, h=100, fit=Fit.CONTAIN).data)
    assert boxed.bands == 4 and boxed.getpoint(50, 5)[3] == 0  # transparent bars in a PNG
    assert close(list(boxed.getpoint(50, 30)), RED) and boxed.getpoint(50, 30)[3] == 255
    white = decode(render(engine, data, w=100, h=100, fit=Fit.CONTAIN, format=Format.JPEG).data)
    assert white.bands == 3 and close(list(white.getpoint(50, 5)), [255, 255, 255], 10)


@pytest.mark.parametrize(
    ("gravity", "across", "box", "expected"),
    [
        (Gravity.NORTH, False, (200, 50), RED),
        (Gravity.SOUTH, False, (200, 50), BLUE),
        (Gravity.NORTHWEST, False, (200, 50), RED),
        (Gravity.SOUTHEAST, False, (200, 50), BLUE),
        (Gravity.WEST, True, (50, 200), RED),
        (Gravity.EAST, True, (50, 200), BLUE),
    ],
)
def test_cover_crops_the_part_gravity_names(
    engine: VipsEngine, gravity: Gravity, across: bool, box: tuple[int, int], expected: list[int]
) -> None:
    data = halves(200, 200, RED, BLUE, across)
    out = decode(render(engine, data, w=box[0], h=box[1], fit=Fit.COVER, gravity=gravity).data)
    assert (out.width, out.height) == box
    assert close([out[band].avg() for band in range(3)], expected, 2)  # the whole crop


def test_cover_center_keeps_the_middle(engine: VipsEngine) -> None:
    out = decode(
        render(engine, halves(200, 200, RED, BLUE, False), w=200, h=50, fit=Fit.COVER).data
    )
    assert close(list(out.getpoint(100, 5)), RED) and close(list(out.getpoint(100, 45)), BLUE)


def test_smart_crop_finds_the_bright_object(engine: VipsEngine) -> None:
    scene = solid(400, 200, [90, 90, 90]).insert(solid(80, 80, RED), 300, 60)  # right edge
    data = encode(scene, "png")
    smart = decode(render(engine, data, w=100, h=100, fit=Fit.COVER, gravity=Gravity.SMART).data)
    centre = decode(render(engine, data, w=100, h=100, fit=Fit.COVER).data)

    def red_pixels(image: pyvips.Image) -> float:
        return float(((image[0] > 200) & (image[1] < 60)).avg() / 255 * image.width * image.height)

    assert (smart.width, smart.height) == (100, 100)
    assert red_pixels(smart) >= 0.9 * 40 * 40  # the object, halved as the scene is
    assert red_pixels(centre) == 0


@pytest.mark.parametrize("fmt", list(MAGIC))
def test_each_format_decodes_with_its_magic_and_type(engine: VipsEngine, fmt: Format) -> None:
    data = encode(pyvips.Image.gaussnoise(120, 80, seed=2).cast("uchar"), "jpeg")
    out = render(engine, data, w=60, format=fmt)
    assert MAGIC[fmt] in out.data[:12]
    assert out.content_type == f"image/{fmt}"
    assert size(out) == (60, 40) and out.frames == 1


@pytest.mark.parametrize("fmt", [Format.JPEG, Format.WEBP, Format.AVIF])
def test_quality_changes_the_size(engine: VipsEngine, fmt: Format) -> None:
    data = encode(pyvips.Image.gaussnoise(160, 120, sigma=40, seed=4).cast("uchar"), "png")
    low, high = (render(engine, data, format=fmt, quality=q).data for q in (20, 90))
    assert len(low) < len(high)


@pytest.mark.parametrize(("alpha", "expected"), [(True, "image/png"), (False, "image/jpeg")])
def test_png_if_alpha_keeps_transparency(engine: VipsEngine, alpha: bool, expected: str) -> None:
    source = rgba(80, 60, 128) if alpha else solid(80, 60, [40, 80, 120])
    out = render(engine, encode(source, "png"), png_if_alpha=True, w=40, format=Format.JPEG)
    assert out.content_type == expected
    assert decode(out.data).hasalpha() == alpha


def test_jpeg_of_a_transparent_source_is_flattened_onto_white(engine: VipsEngine) -> None:
    out = render(engine, encode(rgba(80, 60, 0), "png"), format=Format.JPEG)
    image = decode(out.data)
    assert out.content_type == "image/jpeg" and image.bands == 3
    assert image.min() > 245


def test_exif_orientation_is_applied_and_metadata_stripped(engine: VipsEngine) -> None:
    xy = pyvips.Image.xyz(300, 200)
    dark = ((xy[0] < 150) & (xy[1] < 100)).ifthenelse(0, 255).cast("uchar")  # top-left dark
    data = encode(oriented(dark.colourspace("srgb"), 6), "jpeg")  # clockwise: top right
    for fit, box in ((Fit.INSIDE, (100, 0)), (Fit.FILL, (100, 300))):
        out = decode(render(engine, data, w=box[0], h=box[1], fit=fit, format=Format.JPEG).data)
        assert (out.width, out.height) == ((100, 150) if fit == Fit.INSIDE else (100, 300))
        assert out.crop(out.width - 20, 0, 20, 20).avg() < 20
        assert out.crop(0, 0, 20, 20).avg() > 235
        assert not out.get_typeof("exif-data") and not out.get_typeof("orientation")


def test_a_display_p3_photo_comes_out_srgb_without_its_profile(engine: VipsEngine) -> None:
    red = solid(60, 40, [200, 40, 40]).copy(interpretation="srgb")
    p3 = red.icc_transform("p3", input_profile="srgb")  # other numbers, the same colour
    out = decode(render(engine, encode(p3, "jpeg", 95), w=30, format=Format.JPEG).data)
    assert close(list(out.getpoint(5, 5)), [200, 40, 40], 6)
    assert not out.get_typeof("icc-profile-data")


def test_a_jpeg_whose_warnings_are_about_intact_data_renders(engine: VipsEngine) -> None:
    photo = encode(pyvips.Image.gaussnoise(120, 80, seed=7).cast("uchar"), "jpeg")
    table = photo.index(b"\xff\xdb")
    padded = photo[:table] + b"\x00\x00" + photo[table:]  # "extraneous bytes before marker"
    assert size(render(engine, padded, w=60, format=Format.JPEG)) == (60, 40)


@pytest.mark.parametrize("source", ["gif", "webp"])
@pytest.mark.parametrize("fmt", [Format.GIF, Format.WEBP])
def test_animation_keeps_every_frame(engine: VipsEngine, source: str, fmt: Format) -> None:
    out = render(engine, animation(source), max_frames=100, w=30, format=fmt)
    strip = decode(out.data)
    assert out.frames == 6 and pages(strip) == 6 and out.content_type == f"image/{fmt}"
    assert (strip.width, page_height(strip), strip.height) == (30, 20, 120)
    assert list(strip.get("delay")) == [70] * 6 and strip.get("loop") == 0
    assert all(close(frame_colour(strip, i), FRAME_COLOURS[i]) for i in range(6))


@pytest.mark.parametrize(
    ("fit", "gravity"),
    [(Fit.COVER, Gravity.NORTH), (Fit.COVER, Gravity.SMART), (Fit.CONTAIN, Gravity.CENTER)],
)
def test_animation_is_cropped_and_letterboxed_frame_by_frame(
    engine: VipsEngine, fit: Fit, gravity: Gravity
) -> None:
    out = render(
        engine,
        animation("gif"),
        max_frames=100,
        w=32,
        h=32,
        fit=fit,
        gravity=gravity,
        format=Format.GIF,
    )
    strip = decode(out.data)
    assert out.frames == pages(strip) == 6
    assert (strip.width, page_height(strip), strip.height) == (32, 32, 32 * 6)
    assert all(close(frame_colour(strip, i), FRAME_COLOURS[i]) for i in range(6))


def test_frames_beyond_max_frames_are_dropped(engine: VipsEngine) -> None:
    out = render(engine, animation("gif"), max_frames=4, w=30, format=Format.WEBP)
    strip = decode(out.data)
    assert out.frames == pages(strip) == 4 and strip.height == 4 * 20
    assert list(strip.get("delay")) == [70] * 4


def test_frames_beyond_the_pixel_limit_are_dropped() -> None:
    small = VipsEngine(max_pixels=60 * 40 * 3)  # three source frames
    out = render(small, animation("gif"), max_frames=100, format=Format.GIF)
    assert out.frames == pages(decode(out.data)) == 3


@pytest.mark.parametrize("fmt", [Format.JPEG, Format.PNG, Format.AVIF])
def test_a_still_format_takes_the_first_frame(engine: VipsEngine, fmt: Format) -> None:
    out = render(engine, animation("gif"), max_frames=100, w=30, format=fmt)
    image = decode(out.data)
    assert out.frames == 1 and (image.width, image.height) == (30, 20)
    assert close(frame_colour(image, 0), FRAME_COLOURS[0], 50)


def test_max_frames_one_gives_a_still_gif(engine: VipsEngine) -> None:
    out = render(engine, animation("gif"), max_frames=1, w=30, format=Format.GIF)
    assert out.frames == pages(decode(out.data)) == 1


def damaged(kind: str) -> bytes:
    noise = encode(pyvips.Image.gaussnoise(300, 200, seed=5).cast("uchar"))
    if kind == "truncated png":
        return truncated_png()
    if kind == "truncated jpeg":
        return noise[:-3000]
    if kind == "damaged jpeg":
        return damaged_in_the_middle(noise)
    return damaged_in_the_middle(animation("gif"), 100, zeros=True)


@pytest.mark.parametrize("kind", ["truncated png", "truncated jpeg", "damaged jpeg", "damaged gif"])
@pytest.mark.parametrize("fmt", [Format.JPEG, Format.WEBP])
def test_damaged_bytes_are_corrupt(engine: VipsEngine, kind: str, fmt: Format) -> None:
    with pytest.raises(CorruptImage):
        render(engine, damaged(kind), max_frames=100, w=50, format=fmt)


@pytest.mark.parametrize("fmt", ["png", "gif", "jpeg"])
def test_a_decompression_bomb_is_refused(engine: VipsEngine, fmt: str) -> None:
    with pytest.raises(ImageTooLarge, match="30000x30000"):
        render(engine, decompression_bomb(fmt), w=100, format=Format.JPEG)


def test_heic_renders(engine: VipsEngine) -> None:
    out = render(engine, hevc_heic(), w=100, h=100, fit=Fit.COVER, format=Format.WEBP)
    assert out.content_type == "image/webp" and size(out) == (100, 100)


def test_a_camera_photo_is_fitted_inside(engine: VipsEngine) -> None:
    data = large_photo(12)  # about 4240 x 2830
    info = engine.probe(data)
    out = render(engine, data, w=512, h=512, format=Format.JPEG, quality=80)
    image = decode(out.data)
    assert (image.width, image.height) == (512, round(512 * info.height / info.width))
    assert 60 < image.avg() < 200  # a photo, not grey padding
