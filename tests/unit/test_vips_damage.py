"""VipsEngine on damaged files: the decoder's verdict, in words that name no library internals."""

from __future__ import annotations

import random
import re

import pytest

from imagelake.adapters.embedded.vips import VipsEngine
from imagelake.domain.errors import CorruptImage, ImagelakeError, ImageTooLarge
from imagelake.domain.images import ThumbnailSpec
from tests.photos import (
    PHOTOS,
    damaged_in_the_middle,
    decompression_bomb,
    photo_bytes,
    photo_path,
    with_video_appended,
)

SPEC = ThumbnailSpec(sizes=(64, 256))
# What a message must never show: libvips' class and loader names, its generic wrappers.
INTERNALS = re.compile(
    r"Vips|vips|load_source|2vips|unable to call|unable to copy|read error|error in tile|\n"
)


@pytest.fixture(scope="module")
def engine() -> VipsEngine:
    return VipsEngine(100_000_000)


def assert_clean(message: str) -> None:
    assert not INTERNALS.search(message), message
    assert len(message) < 250, message


def test_a_jpeg_damaged_in_the_middle_is_corrupt(engine: VipsEngine) -> None:
    data = damaged_in_the_middle(photo_bytes("coffee", "jpeg"))
    assert data.endswith(b"\xff\xd9")
    engine.probe(data)  # the header is intact

    with pytest.raises(CorruptImage) as raised:
        engine.thumbnails(data, SPEC)

    assert str(raised.value) == (
        "cannot decode the image: Corrupt JPEG data: premature end of data segment"
    )


@pytest.mark.parametrize(
    ("fmt", "zeros", "reason"),
    [
        ("jpeg", False, "Corrupt JPEG data"),
        ("png", False, "IDAT: invalid block type"),
        ("png", True, "bad adaptive filter value"),
        ("gif", True, "Invalid frame data"),
        ("gif", False, "Invalid frame data"),
        ("tiff", False, "Decoding error at scanline"),
    ],
)
def test_damage_in_the_middle_fails_with_the_decoders_reason(
    engine: VipsEngine, fmt: str, zeros: bool, reason: str
) -> None:
    data = damaged_in_the_middle(photo_bytes("coffee", fmt), 2000, zeros=zeros)

    with pytest.raises(CorruptImage, match=reason) as raised:
        engine.thumbnails(data, SPEC)
    assert_clean(str(raised.value))


@pytest.mark.parametrize("source", ["as shipped", "jpeg", "gif", "png"])
@pytest.mark.parametrize("name", PHOTOS)
def test_every_photo_in_the_corpus_still_decodes(
    engine: VipsEngine, name: str, source: str
) -> None:
    data = photo_path(name).read_bytes() if source == "as shipped" else photo_bytes(name, source)

    assert sorted(engine.thumbnails(data, SPEC)) == [64, 256]


JFIF_3 = b"\xff\xe0\x00\x10JFIF\x00\x03\x01\x00\x00\x01\x00\x01\x00\x00"  # APP0, version 3.01


def jpeg_with(data: bytes, before: bytes, insert: bytes) -> bytes:
    at = data.index(before)
    return data[:at] + insert + data[at:]


@pytest.mark.parametrize(
    "where", ["padding before a table", "padding before the end marker", "an unknown JFIF version"]
)
def test_jpeg_warnings_about_intact_data_are_tolerated(engine: VipsEngine, where: str) -> None:
    photo = photo_bytes("coffee", "jpeg", quality=80)
    data = {
        "padding before a table": jpeg_with(photo, b"\xff\xdb", b"\x00\x00"),
        "padding before the end marker": photo[:-2] + bytes(10) + photo[-2:],
        "an unknown JFIF version": jpeg_with(photo, b"\xff\xe1", JFIF_3),
    }[where]

    assert sorted(engine.thumbnails(data, SPEC)) == [64, 256]


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif"])
def test_bytes_after_the_end_marker_are_ignored(engine: VipsEngine, fmt: str) -> None:
    data = with_video_appended(photo_bytes("chelsea", fmt))

    assert (engine.probe(data).width, sorted(engine.thumbnails(data, SPEC))) == (451, [64, 256])


def test_a_png_taller_than_libvips_reads_is_too_large() -> None:
    tall = decompression_bomb("png", 1, 100_000_001)

    with pytest.raises(ImageTooLarge, match=r"^1x100000001 is 100000001 pixels; the limit is 10"):
        VipsEngine(100_000_000).probe(tall)
    with pytest.raises(ImageTooLarge, match="longest side"):
        VipsEngine(10**9).probe(tall)  # within the pixel limit, beyond libvips' side limit


def mutations(data: bytes, count: int, seed: int) -> list[bytes]:
    """Files cut short, with bytes flipped, or with a run of noise: what disks and links do."""
    rng = random.Random(seed)
    out = []
    for index in range(count):
        damaged = bytearray(data)
        if index % 3 == 0:
            damaged = damaged[: rng.randrange(8, len(data))]
        elif index % 3 == 1:
            for _ in range(rng.randrange(1, 20)):
                damaged[rng.randrange(len(data))] = rng.randrange(256)
        else:
            start = rng.randrange(8, len(data))
            damaged[start : start + 300] = rng.randbytes(len(damaged[start : start + 300]))
        out.append(bytes(damaged))
    return out


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif", "tiff", "avif"])
def test_no_message_names_library_internals(engine: VipsEngine, fmt: str) -> None:
    refused = 0
    for data in mutations(photo_bytes("chelsea", fmt), 40, seed=len(fmt)):
        try:
            engine.thumbnails(data, SPEC)
        except ImagelakeError as exc:
            assert_clean(str(exc))
            refused += 1
    assert refused > 10
