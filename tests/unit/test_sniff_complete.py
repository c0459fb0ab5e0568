"""Whether an upload holds its whole image: the structure walked to its end marker."""

from __future__ import annotations

import pytest

from imagelake.domain.errors import CorruptImage
from imagelake.domain.sniff import check_complete, png_size
from tests.photos import decompression_bomb, photo_bytes, with_video_appended

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}


@pytest.mark.parametrize("fmt", [*CONTENT_TYPES, "webp"])
def test_whole_files_pass(fmt: str) -> None:
    check_complete(photo_bytes("coffee", fmt), f"image/{fmt}")


@pytest.mark.parametrize("fmt", CONTENT_TYPES)
def test_bytes_after_the_end_marker_pass(fmt: str) -> None:
    data = photo_bytes("coffee", fmt)

    check_complete(with_video_appended(data), CONTENT_TYPES[fmt])
    check_complete(data + bytes(100), CONTENT_TYPES[fmt])  # padding, as some tools write


@pytest.mark.parametrize("keep", [0.02, 0.25, 0.5, 0.9, -1])
@pytest.mark.parametrize("fmt", CONTENT_TYPES)
def test_files_cut_short_are_corrupt(fmt: str, keep: float) -> None:
    data = photo_bytes("coffee", fmt)
    cut = data[:-1] if keep == -1 else data[: int(len(data) * keep)]

    with pytest.raises(CorruptImage, match=f"^truncated {fmt.upper()}: the file ends before"):
        check_complete(cut, CONTENT_TYPES[fmt])


def jpeg_with_comment(data: bytes, comment: bytes) -> bytes:
    """A COM segment right after SOI: any bytes, an end marker among them, skipped by length."""
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return data[:2] + segment + data[2:]


def test_an_end_marker_inside_a_segment_does_not_count() -> None:
    # An EXIF thumbnail is a whole JPEG inside APP1, end marker included.
    data = jpeg_with_comment(photo_bytes("coffee"), b"thumbnail \xff\xd8...\xff\xd9")
    check_complete(data, "image/jpeg")

    with pytest.raises(CorruptImage):
        check_complete(data[: len(data) // 2], "image/jpeg")


def test_padding_between_jpeg_segments_is_skipped() -> None:
    data = photo_bytes("coffee")
    table = data.index(b"\xff\xdb")
    padded = data[:table] + bytes(3) + data[table:]

    check_complete(padded, "image/jpeg")
    with pytest.raises(CorruptImage):
        check_complete(padded[: table + 100], "image/jpeg")


def test_png_size_reads_the_ihdr() -> None:
    assert png_size(decompression_bomb("png", 1, 100_000_001)[:32]) == (1, 100_000_001)
    assert png_size(photo_bytes("coffee", "jpeg")[:32]) is None
