"""Damaged and unusual files through the API and the thumbnail worker, on real libvips."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.photos import damaged_in_the_middle, decompression_bomb, photo_bytes, with_video_appended
from tests.unit.api_harness import Api, open_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_api(tmp_path, thumbnail_sizes="64,128") as api:
        yield api


def test_a_jpeg_damaged_in_the_middle_ends_failed_with_the_decoders_reason(api: Api) -> None:
    created = api.upload(damaged_in_the_middle(photo_bytes("coffee")))
    assert created.status_code == 201, created.text

    api.drain()

    image = api.get_image(created.json()["image_id"])
    assert (image["status"], image["thumbnails"]) == ("failed", None)
    assert image["failure_reason"] == (
        "cannot decode the image: Corrupt JPEG data: premature end of data segment"
    )


@pytest.mark.parametrize("fmt", ["jpeg", "png", "gif"])
def test_a_file_with_a_video_after_its_end_marker_gets_thumbnails(api: Api, fmt: str) -> None:
    image = api.upload_ready(with_video_appended(photo_bytes("chelsea", fmt)))

    assert (image["width"], image["height"]) == (451, 300)
    for link in image["thumbnails"].values():
        reply = api.fetch(link)
        assert reply.status_code == 200
        assert reply.content.startswith(b"\xff\xd8")


def test_a_png_of_one_by_a_hundred_million_pixels_is_too_large(api: Api) -> None:
    reply = api.upload(decompression_bomb("png", 1, 100_000_001), "image/png")

    assert reply.status_code == 422
    assert reply.json()["error"] == {
        "code": "image_too_large",
        "message": "1x100000001 is 100000001 pixels; the limit is 100000000",
    }
