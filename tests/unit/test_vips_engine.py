"""VipsEngine against real libvips, on real photos re-encoded at test time."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import pyvips

from imagelake.adapters.embedded.vips import VipsEngine
from imagelake.domain.errors import CorruptImage, ImageTooLarge, UnsupportedMediaType
from imagelake.domain.images import ThumbnailSpec
from tests.photos import (
    decompression_bomb,
    encode,
    large_photo_image,
    load_photo,
    oriented,
    photo_bytes,
)

MAX_PIXELS = 50_000_000
CHELSEA = (451, 300)  # chelsea.png, landscape
SOURCE_FORMATS = ["jpeg", "png", "webp", "gif", "tiff", "avif", "heic"]  # HEIC: HEVC-coded
CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "tiff": "image/tiff",
    "avif": "image/avif",
    "heic": "image/heic",
}
LOADERS = {"jpeg": "jpegload", "webp": "webpload", "avif": "heifload"}


@pytest.fixture(scope="module")
def engine() -> VipsEngine:
    return VipsEngine(MAX_PIXELS)


def decode(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def long_side(image: pyvips.Image) -> int:
    return max(int(image.width), int(image.height))


@pytest.mark.parametrize("fmt", SOURCE_FORMATS)
def test_probe_reads_type_and_size(engine: VipsEngine, fmt: str) -> None:
    info = engine.probe(photo_bytes("chelsea", fmt))

    assert (info.content_type, info.width, info.height) == (CONTENT_TYPES[fmt], *CHELSEA)


@pytest.mark.parametrize("fmt", SOURCE_FORMATS)
def test_thumbnails_from_every_source_format(engine: VipsEngine, fmt: str) -> None:
    thumbs = engine.thumbnails(photo_bytes("chelsea", fmt), ThumbnailSpec(sizes=(64, 128, 256)))

    assert sorted(thumbs) == [64, 128, 256]
    for size, data in thumbs.items():
        image = decode(data)
        assert image.get("vips-loader").startswith("jpegload")
        assert (image.width, image.bands, image.interpretation) == (size, 3, "srgb")
        assert image.height == pytest.approx(size * CHELSEA[1] / CHELSEA[0], abs=1)


@pytest.mark.parametrize("out", ["jpeg", "webp", "avif"])
def test_thumbnail_output_formats(engine: VipsEngine, out: str) -> None:
    spec = ThumbnailSpec(sizes=(100, 200), format=out, quality=70)

    thumbs = engine.thumbnails(photo_bytes("coffee", "png"), spec)

    for size, data in thumbs.items():
        image = decode(data)
        assert image.get("vips-loader").startswith(LOADERS[out])
        assert long_side(image) == size


@pytest.mark.parametrize(
    ("width", "height"), [(4000, 3000), (3000, 4000), (1000, 1000), (1013, 457), (517, 2049)]
)
def test_long_side_is_exactly_the_size(engine: VipsEngine, width: int, height: int) -> None:
    data = encode(load_photo("astronaut").resize(width / 512, vscale=height / 512))
    sizes = (50, 128, 256, 333, 512)

    thumbs = engine.thumbnails(data, ThumbnailSpec(sizes=sizes))

    assert {size: long_side(decode(thumbs[size])) for size in sizes} == {s: s for s in sizes}


def test_small_images_are_never_upscaled(engine: VipsEngine) -> None:
    data = encode(load_photo("coffee").resize(40 / 600, vscale=30 / 400))

    thumbs = engine.thumbnails(data, ThumbnailSpec(sizes=(16, 128, 512)))

    assert [(decode(thumbs[s]).width, decode(thumbs[s]).height) for s in (16, 128, 512)] == [
        (16, 12),
        (40, 30),
        (40, 30),
    ]


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_more_sizes_cost_no_more_decodes(
    engine: VipsEngine, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    loads: list[str] = []
    for loader in ("new_from_buffer", "thumbnail_buffer"):
        real = getattr(pyvips.Image, loader)

        def counting(
            *args: object, _real: Callable[..., object] = real, _name: str = loader, **kw: object
        ) -> object:
            loads.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(pyvips.Image, loader, staticmethod(counting))
    data = photo_bytes("rocket", fmt)

    engine.thumbnails(data, ThumbnailSpec(sizes=(512,)))
    one = list(loads)
    loads.clear()
    engine.thumbnails(data, ThumbnailSpec(sizes=(128, 256, 512)))

    assert loads == one


def half_dark(width: int = 300, height: int = 200) -> pyvips.Image:
    """Left half black, right half white: shows which way an image was turned."""
    return (pyvips.Image.xyz(width, height)[0] >= width // 2).ifthenelse(255, 0).cast("uchar")


def test_exif_orientation_swaps_the_displayed_size(engine: VipsEngine) -> None:
    data = encode(oriented(half_dark(300, 200), 6))

    info = engine.probe(data)
    thumb = decode(engine.thumbnails(data, ThumbnailSpec(sizes=(150,)))[150])

    assert (info.width, info.height) == (200, 300)
    assert (thumb.width, thumb.height) == (100, 150)
    # Orientation 6 turns the picture clockwise: the dark left half ends up on top.
    assert thumb.crop(0, 0, 100, 40).avg() < 10
    assert thumb.crop(0, 110, 100, 40).avg() > 245


def test_alpha_is_flattened_onto_white_for_jpeg(engine: VipsEngine) -> None:
    opaque_square = pyvips.Image.black(200, 200).draw_rect(255, 50, 50, 100, 100, fill=True)
    rgba = pyvips.Image.black(200, 200, bands=3).bandjoin(opaque_square).cast("uchar")
    data = encode(rgba.copy(interpretation="srgb"), "png")

    jpeg = decode(engine.thumbnails(data, ThumbnailSpec(sizes=(100,)))[100])
    webp = decode(engine.thumbnails(data, ThumbnailSpec(sizes=(100,), format="webp"))[100])

    assert jpeg.bands == 3
    assert jpeg.crop(0, 0, 20, 20).min() > 245  # transparent corner became white
    assert jpeg.crop(40, 40, 20, 20).max() < 10  # the opaque black square stayed black
    assert webp.bands == 4


@pytest.mark.parametrize("embed_profile", [True, False])
def test_cmyk_jpeg_becomes_srgb(engine: VipsEngine, embed_profile: bool) -> None:
    rgb = load_photo("coffee")
    cmyk = rgb.icc_export(output_profile="cmyk")
    data = bytes(cmyk.jpegsave_buffer(Q=95, keep="all" if embed_profile else "none"))
    assert decode(data).interpretation == "cmyk"

    thumb = decode(engine.thumbnails(data, ThumbnailSpec(sizes=(300,)))[300])

    assert (thumb.bands, thumb.interpretation) == (3, "srgb")
    assert abs(thumb.avg() - rgb.avg()) < 10


def test_16_bit_png(engine: VipsEngine) -> None:
    rgb = load_photo("coffee")
    data = bytes(
        (rgb.cast("ushort") * 257).copy(interpretation="rgb16").pngsave_buffer(bitdepth=16)
    )
    assert decode(data).format == "ushort"

    thumb = decode(engine.thumbnails(data, ThumbnailSpec(sizes=(300,)))[300])

    assert (thumb.format, thumb.bands) == ("uchar", 3)
    assert abs(thumb.avg() - rgb.avg()) < 3


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_greyscale(engine: VipsEngine, fmt: str) -> None:
    data = photo_bytes("camera", fmt)
    assert decode(data).bands == 1

    thumb = decode(engine.thumbnails(data, ThumbnailSpec(sizes=(128,)))[128])

    assert (thumb.width, thumb.height, thumb.bands) == (128, 128, 3)


def test_first_frame_of_an_animation(engine: VipsEngine) -> None:
    red = pyvips.Image.black(80, 60).new_from_image([255, 0, 0]).cast("uchar")
    blue = red.new_from_image([0, 0, 255]).cast("uchar")
    frames = red.join(blue, "vertical").copy(interpretation="srgb")
    frames.set_type(pyvips.GValue.gint_type, "page-height", 60)

    for data in (encode(frames, "gif"), encode(frames, "webp")):
        info = engine.probe(data)
        thumb = decode(engine.thumbnails(data, ThumbnailSpec(sizes=(40,)))[40])
        assert (info.width, info.height) == (80, 60)
        assert (thumb.width, thumb.height) == (40, 30)
        assert thumb[0].avg() > 200 and thumb[2].avg() < 50  # red, not blue


def test_metadata_is_stripped(engine: VipsEngine) -> None:
    source = oriented(load_photo("chelsea"), 1)
    source.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "someone private")
    data = bytes(source.icc_transform("p3", embedded=False).jpegsave_buffer(keep="all"))
    assert {"exif-data", "icc-profile-data"} <= set(decode(data).get_fields())

    for spec in (ThumbnailSpec(sizes=(128,)), ThumbnailSpec(sizes=(128,), format="webp")):
        fields = set(decode(engine.thumbnails(data, spec)[128]).get_fields())
        assert not {"exif-data", "icc-profile-data", "xmp-data", "iptc-data"} & fields


@pytest.mark.parametrize("fmt", ["png", "gif", "jpeg"])
def test_decompression_bomb_is_refused_from_its_header(engine: VipsEngine, fmt: str) -> None:
    bomb = decompression_bomb(fmt, 30_000, 30_000)

    with pytest.raises(ImageTooLarge, match=r"900000000 pixels.*limit is 50000000"):
        engine.probe(bomb)
    with pytest.raises(ImageTooLarge):
        engine.thumbnails(bomb, ThumbnailSpec())


def test_bomb_headers_carry_no_pixels() -> None:
    # Why a size refusal proves no decode happened: decoding these would fail instead.
    with pytest.raises(CorruptImage):
        VipsEngine(10**9).thumbnails(decompression_bomb("png", 30_000, 30_000), ThumbnailSpec())


def test_pixel_limit_is_inclusive() -> None:
    data = photo_bytes("chelsea", "png")
    pixels = CHELSEA[0] * CHELSEA[1]

    assert VipsEngine(pixels).probe(data).pixels == pixels
    with pytest.raises(ImageTooLarge):
        VipsEngine(pixels - 1).probe(data)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_truncated_file_is_corrupt(engine: VipsEngine, fmt: str) -> None:
    data = photo_bytes("coffee", fmt)

    with pytest.raises(CorruptImage) as raised:
        engine.thumbnails(data[: len(data) // 2], ThumbnailSpec())
    assert "\n" not in str(raised.value)
    assert len(str(raised.value)) < 250


def test_truncated_header_is_corrupt(engine: VipsEngine) -> None:
    with pytest.raises(CorruptImage, match="image/jpeg"):
        engine.probe(photo_bytes("coffee", "jpeg")[:200])


def test_garbage_after_a_jpeg_signature_is_corrupt(engine: VipsEngine) -> None:
    data = b"\xff\xd8\xff" + bytes(range(256)) * 40

    with pytest.raises(CorruptImage):
        engine.probe(data)
    with pytest.raises(CorruptImage):
        engine.thumbnails(data, ThumbnailSpec())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is a text file\n" * 20,
        bytes((i * 7919 + 13) % 256 for i in range(4096)),
        b"%PDF-1.7\n" + bytes(1000),
    ],
    ids=["empty", "text", "random", "pdf"],
)
def test_not_an_image_is_unsupported(engine: VipsEngine, data: bytes) -> None:
    with pytest.raises(UnsupportedMediaType):
        engine.probe(data)
    with pytest.raises(UnsupportedMediaType):
        engine.thumbnails(data, ThumbnailSpec())


def test_embedded_colour_profile_is_applied_before_it_is_stripped(engine: VipsEngine) -> None:
    red = pyvips.Image.black(64, 64).new_from_image([255, 0, 0]).cast("uchar")
    p3 = red.copy(interpretation="srgb").icc_transform("p3", embedded=False)
    data = bytes(p3.jpegsave_buffer(Q=95, keep="all"))
    assert decode(data)[1].avg() > 30  # the stored P3 values are not sRGB red

    thumb = decode(engine.thumbnails(data, ThumbnailSpec(sizes=(32,)))[32])

    assert [round(thumb[band].avg()) for band in range(3)] == pytest.approx([255, 0, 0], abs=8)


def test_transparent_pixels_do_not_bleed_into_smaller_sizes(engine: VipsEngine) -> None:
    # Invisible green around an opaque red square: resizing without premultiplied
    # alpha would smear the green into the square's edge.
    colour = pyvips.Image.black(400, 400).new_from_image([0, 255, 0])
    colour = colour.draw_rect([255, 0, 0], 100, 100, 200, 200, fill=True)
    alpha = pyvips.Image.black(400, 400).draw_rect(255, 100, 100, 200, 200, fill=True)
    rgba = colour.bandjoin(alpha).cast("uchar").copy(interpretation="srgb")
    spec = ThumbnailSpec(sizes=(37, 400), format="webp", quality=100)

    small = decode(engine.thumbnails(bytes(rgba.pngsave_buffer()), spec)[37])

    visible = small[3] > 64
    assert (visible.ifthenelse(small[1], 0)).max() < 40


def test_thumbnail_looks_like_the_photo(engine: VipsEngine) -> None:
    photo = large_photo_image(4, "rocket").copy_memory()  # 2450 px wide: shrinks on load
    spec = ThumbnailSpec(sizes=(256,), quality=95)

    thumb = decode(engine.thumbnails(encode(photo, quality=95), spec)[256])

    reference = photo.icc_transform("srgb", embedded=True)  # rocket.jpg has its own profile
    reference = reference.resize(thumb.width / photo.width, vscale=thumb.height / photo.height)
    error = thumb.cast("float") - reference.cast("float")
    psnr = 10 * math.log10(255**2 / (error * error).avg())
    assert psnr > 35  # a thumbnail turned the wrong way scores about 14 dB
