"""HEIC as phones write it (HEVC inside): the libvips wheel cannot decode it, pillow-heif does."""

from __future__ import annotations

import pytest
import pyvips

from imagelake.adapters.embedded.vips import VipsEngine
from imagelake.domain.errors import CorruptImage, ImageTooLarge
from imagelake.domain.images import ThumbnailSpec
from tests.photos import encode, heic_bomb, hevc_heic, oriented

CHELSEA = (451, 300)  # chelsea.png, landscape


@pytest.fixture(scope="module")
def engine() -> VipsEngine:
    return VipsEngine(50_000_000)


def decode(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def quarter_dark(width: int = 300, height: int = 200) -> pyvips.Image:
    """Dark top-left quarter, the rest white: shows any turn or mirror."""
    xy = pyvips.Image.xyz(width, height)
    dark = (xy[0] < width // 2) & (xy[1] < height // 2)
    return dark.ifthenelse(0, 255).cast("uchar")


def test_hevc_heic_is_read_although_libvips_cannot_decode_it(engine: VipsEngine) -> None:
    data = hevc_heic()
    with pytest.raises(pyvips.Error, match="HEVC"):
        decode(data).avg()  # the pyvips-binary libheif: the reason pillow-heif is there

    info = engine.probe(data)
    thumbs = engine.thumbnails(data, ThumbnailSpec(sizes=(128, 256)))

    assert (info.content_type, info.width, info.height) == ("image/heic", *CHELSEA)
    assert [(decode(thumbs[s]).width, decode(thumbs[s]).height) for s in (128, 256)] == [
        (128, 85),
        (256, 170),
    ]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_heic_rotation_and_mirroring_are_applied_once(engine: VipsEngine, orientation: int) -> None:
    # The phone's irot/imir, with the same orientation left in its EXIF, as iPhones write.
    image = oriented(quarter_dark(300, 200), orientation)
    heic, jpeg = hevc_heic(image), encode(image, quality=95)
    spec = ThumbnailSpec(sizes=(150,))

    info = engine.probe(heic)
    thumb = decode(engine.thumbnails(heic, spec)[150])
    expected = decode(engine.thumbnails(jpeg, spec)[150])  # libvips' autorotate of the JPEG

    turned = orientation in (5, 6, 7, 8)
    assert (info.width, info.height) == ((200, 300) if turned else (300, 200))
    assert (thumb.width, thumb.height) == (expected.width, expected.height)
    assert (thumb.cast("float") - expected.cast("float")).abs().avg() < 8
    if orientation == 6:  # clockwise: the dark top-left quarter ends up top right
        assert thumb.crop(thumb.width - 40, 0, 40, 40).avg() < 20
        assert thumb.crop(0, 0, 40, 40).avg() > 235


def test_heic_size_limit_is_checked_from_its_header(engine: VipsEngine) -> None:
    # Decoding the bomb fails ("does not have the size signaled"): a size error proves
    # that only the header was read.
    with pytest.raises(ImageTooLarge, match="30000x30000"):
        engine.probe(heic_bomb())
    with pytest.raises(ImageTooLarge):
        engine.thumbnails(heic_bomb(), ThumbnailSpec())
    small = VipsEngine(max_pixels=CHELSEA[0] * CHELSEA[1] - 1)
    with pytest.raises(ImageTooLarge):
        small.probe(hevc_heic())


@pytest.mark.parametrize("damage", ["truncated", "unknown codec"])
def test_damaged_heic_is_corrupt_in_plain_words(engine: VipsEngine, damage: str) -> None:
    whole = hevc_heic()
    data = {
        "truncated": whole[: len(whole) // 2],  # the header is whole: the pixels are missing
        "unknown codec": whole.replace(b"hvc1", b"xyz1"),  # an item type libheif does not know
    }[damage]

    with pytest.raises(CorruptImage) as refused:
        engine.thumbnails(data, ThumbnailSpec())

    message = str(refused.value)
    assert message.startswith("cannot ")
    assert not any(word in message for word in ("Invalid input", "heif", "\n", "Error"))
