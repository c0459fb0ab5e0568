"""Smaller variants of a JPEG are rendered from a stored 1024 px intermediate, not the original."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pyvips

from imagelake.domain.variants import Fit, Variant, scale_needed
from imagelake.ports import Rendered
from tests.unit.api_harness import Api, open_api


def jpeg(width: int, height: int) -> bytes:
    image = pyvips.Image.xyz(width, height)
    pixels = (image[0] * 255 / width).bandjoin([image[1] * 255 / height, image[0] % 97 * 2])
    return bytes(pixels.cast("uchar").copy(interpretation="srgb").jpegsave_buffer(Q=90))


def width_of(data: bytes) -> int:
    return int(pyvips.Image.new_from_buffer(data, "").width)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_api(tmp_path, mezzanine_size=1024) as api:
        yield api


def sources(api: Api) -> list[int]:
    """The width of what each render was made from, in order."""
    seen: list[int] = []
    engine = api.wired.container.engine
    render = engine.render

    def recording(data: bytes, asked: Any) -> Rendered:
        seen.append(width_of(data))
        return render(data, asked)

    engine.render = recording  # type: ignore[method-assign,assignment]
    return seen


def fetch(api: Api, image_id: str, **params: Any) -> bytes:
    location = api.client.get(
        f"/images/{image_id}/download", params=params, follow_redirects=False
    ).headers["location"]
    reply = api.fetch(location)
    assert reply.status_code == 200, reply.text
    return reply.content


def test_small_variants_of_a_jpeg_come_from_the_mezzanine_made_once(api: Api) -> None:
    image_id = api.upload(jpeg(2400, 1600), "image/jpeg").json()["image_id"]
    seen = sources(api)

    fetch(api, image_id, w=300, format="jpeg")
    fetch(api, image_id, w=400, format="webp")
    fetch(api, image_id, w=512, h=512, fit="cover")  # needs 512/1600 of the source: too much
    fetch(api, image_id, w=800)

    assert seen == [2400, 1024, 1024, 2400, 2400]  # make it, use it twice, then the original
    kept = list(api.wired.container.thumbnails.list(f"thumbnails/{image_id}/v/"))
    assert f"thumbnails/{image_id}/v/1024x1024-inside-q95.jpg" in kept


def test_a_variant_from_the_mezzanine_looks_like_one_from_the_original(tmp_path: Path) -> None:
    original = jpeg(2400, 1600)
    renders = []
    for size in (1024, 0):
        with open_api(tmp_path / str(size), mezzanine_size=size) as api:
            image_id = api.upload(original, "image/jpeg").json()["image_id"]
            renders.append(
                pyvips.Image.new_from_buffer(fetch(api, image_id, w=300, format="png"), "")
            )

    via, direct = renders
    assert (via.width, via.height) == (direct.width, direct.height) == (300, 200)
    assert (via - direct).abs().avg() < 1.5  # of 255: no visible difference


@pytest.mark.parametrize(
    ("content", "content_type", "size"),
    [(jpeg(2400, 1600), "image/jpeg", 0), (jpeg(900, 600), "image/jpeg", 1024)],
)
def test_off_or_for_a_small_original_every_render_reads_the_original(
    tmp_path: Path, content: bytes, content_type: str, size: int
) -> None:
    with open_api(tmp_path, mezzanine_size=size) as api:
        image_id = api.upload(content, content_type).json()["image_id"]
        seen = sources(api)
        fetch(api, image_id, w=100)
        fetch(api, image_id, w=120)

    assert seen == [width_of(content)] * 2


def test_png_originals_are_not_given_a_mezzanine(api: Api) -> None:
    png = bytes(pyvips.Image.black(2400, 1600, bands=3).pngsave_buffer())
    image_id = api.upload(png, "image/png").json()["image_id"]
    seen = sources(api)

    fetch(api, image_id, w=100)

    assert seen == [2400]


@pytest.mark.parametrize(
    ("variant", "scale"),
    [
        (Variant(w=500), 0.25),
        (Variant(h=500), 0.5),
        (Variant(w=500, h=500), 0.25),  # inside: the tighter side
        (Variant(w=500, h=500, fit=Fit.COVER), 0.5),  # cover: the looser side
        (Variant(w=4000), 1.0),  # never more than every pixel...
        (Variant(w=4000, enlarge=True), 2.0),  # ...unless enlarged
        (Variant(), 1.0),
    ],
)
def test_scale_needed(variant: Variant, scale: float) -> None:
    assert scale_needed(variant, 2000, 1000) == scale
