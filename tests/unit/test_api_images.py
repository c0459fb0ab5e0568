"""POST/GET/DELETE /images and downloads, over the in-memory adapters."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import pyvips

from imagelake.domain.sniff import png_size
from tests.photos import encode, load_photo, oriented, photo_bytes
from tests.unit.api_harness import PUBLIC_URL, Api, open_api
from tests.unit.fakes import FakeImageEngine, png, thumbnail_size

SIZES = ("128", "256", "512")
PHOTO = png(600, 400)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_api(tmp_path, FakeImageEngine(), max_url_ttl=86_400) as api:
        yield api


@pytest.fixture
def vips_api(tmp_path: Path) -> Iterator[Api]:
    """On libvips, for the tests that are about what decoding finds."""
    with open_api(tmp_path, max_url_ttl=86_400) as api:
        yield api


def dimensions(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return int(image.width), int(image.height)


def expires_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["e"][0])


def lives(url: str, ttl: int, window: int = 3600) -> bool:
    """Whether a link lives at least ttl seconds, at most one window more, expiring on one."""
    now, expires = time.time(), expires_of(url)
    return now + ttl - 1 <= expires <= now + ttl + window + 1 and expires % window == 0


def test_new_bytes_are_201_and_the_same_bytes_again_are_200_with_the_same_id(api: Api) -> None:
    data = PHOTO

    first = api.upload(data)
    again = api.upload(data)

    assert first.status_code == 201
    assert first.json()["duplicate"] is False
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["image_id"] == first.json()["image_id"]
    assert api.drain() == 1  # the duplicate queued nothing


def test_every_reply_field_with_exif_orientation_applied(vips_api: Api) -> None:
    # chelsea is 451x300 landscape; orientation 6 displays it rotated, as 300x451.
    data = encode(oriented(load_photo("chelsea"), 6), "jpeg")
    before = datetime.now(UTC)

    reply = vips_api.upload(data, "image/jpeg")

    body = reply.json()
    assert reply.status_code == 201
    assert uuid.UUID(body["image_id"]).version == 4
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["content_type"] == "image/jpeg"
    assert (body["width"], body["height"]) == (300, 451)
    assert body["bytes"] == len(data)
    created = datetime.fromisoformat(body["created_at"])
    assert before - timedelta(seconds=1) <= created <= datetime.now(UTC)
    assert body["status"] == "processing"
    assert body["original_url"].startswith(f"{PUBLIC_URL}/d/{body['image_id']}?")
    assert body["thumbnails"] is None
    assert body["duplicate"] is False

    vips_api.drain()
    ready = vips_api.get_image(body["image_id"])
    assert ready["status"] == "ready"
    assert sorted(ready["thumbnails"]) == sorted(SIZES)
    # Thumbnails are upright too: portrait, long side == size, never enlarged past 451.
    expected = {"128": (85, 128), "256": (170, 256), "512": (300, 451)}
    for size, url in ready["thumbnails"].items():
        fetched = vips_api.fetch(url)
        assert fetched.status_code == 200
        assert fetched.headers["content-type"] == "image/jpeg"
        assert dimensions(fetched.content) == expected[size]
        assert not pyvips.Image.new_from_buffer(fetched.content, "").get_typeof("exif-data")


def test_multipart_field_file_is_accepted(api: Api) -> None:
    data = png(600, 400, seed=1)

    reply = api.client.post("/images", files={"file": ("photo.png", data, "image/png")})

    assert reply.status_code == 201
    assert reply.json()["bytes"] == len(data)
    assert api.fetch(reply.json()["original_url"]).content == data


def test_multipart_without_a_file_field_is_400(api: Api) -> None:
    reply = api.client.post("/images", files={"photo": ("x.png", PHOTO, "image/png")})

    assert reply.status_code == 400
    assert "'file'" in reply.json()["error"]["message"]


def test_content_type_is_sniffed_not_trusted(vips_api: Api) -> None:
    coffee = photo_bytes("coffee", "png")

    raw = vips_api.upload(coffee, "image/jpeg")
    webp = vips_api.client.post(
        "/images", files={"file": ("a.jpg", photo_bytes("rocket", "webp"), "image/jpeg")}
    )

    assert raw.json()["content_type"] == "image/png"
    assert webp.json()["content_type"] == "image/webp"
    assert vips_api.fetch(raw.json()["original_url"]).headers["content-type"] == "image/png"


def test_list_is_newest_first_and_the_cursor_visits_every_image_once(api: Api) -> None:
    uploaded = [api.upload(png(64, 48, seed=i)).json()["image_id"] for i in range(7)]

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = api.client.get("/images", params=params).json()
        pages += 1
        assert len(page["images"]) <= 3
        seen += [image["image_id"] for image in page["images"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == list(reversed(uploaded))


def test_a_bad_cursor_is_400(api: Api) -> None:
    reply = api.client.get("/images", params={"cursor": "not-a-cursor"})

    assert reply.status_code == 400


def test_ttl_shortens_urls_and_is_capped(api: Api) -> None:
    image = api.upload_ready(PHOTO)

    short = api.get_image(image["image_id"], ttl=60)
    huge = api.get_image(image["image_id"], ttl=10**9)
    default = api.get_image(image["image_id"])

    assert lives(short["original_url"], 60)
    assert all(lives(u, 60) for u in short["thumbnails"].values())
    assert lives(huge["original_url"], 86_400)  # the harness caps ttl at a day
    assert lives(default["original_url"], 3600)
    assert api.client.get(f"/images/{image['image_id']}", params={"ttl": 0}).status_code == 400


def test_unknown_or_malformed_ids_are_404(api: Api) -> None:
    for image_id in (str(uuid.uuid4()), "not-a-uuid", "x" * 300):
        reply = api.client.get(f"/images/{image_id}")
        assert reply.status_code == 404
        assert reply.json()["error"]["code"] == "not_found"


def test_delete_removes_the_record_and_every_blob(api: Api) -> None:
    image = api.upload_ready(PHOTO)
    image_id = image["image_id"]
    blobs = api.wired.container.blobs
    assert len([k for k in blobs.list("") if image_id in k]) == 4  # original + 3 sizes

    deleted = api.client.delete(f"/images/{image_id}")

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert [k for k in blobs.list("") if image_id in k] == []
    assert api.client.get(f"/images/{image_id}").status_code == 404
    assert api.client.delete(f"/images/{image_id}").status_code == 404
    assert api.client.get(f"/images/{image_id}/download").status_code == 404
    assert api.fetch(image["original_url"]).status_code == 404
    assert api.fetch(image["thumbnails"]["128"]).status_code == 404
    # The same bytes can come back afterwards as a new image.
    assert api.upload(PHOTO).status_code == 201


def test_download_redirects_to_a_signed_url_for_the_original_and_each_size(api: Api) -> None:
    data = PHOTO  # 600x400
    image_id = api.upload_ready(data)["image_id"]

    original = api.client.get(f"/images/{image_id}/download", follow_redirects=False)
    assert original.status_code == 302
    assert api.fetch(original.headers["location"]).content == data
    for size in SIZES:
        reply = api.client.get(
            f"/images/{image_id}/download", params={"size": size}, follow_redirects=False
        )
        assert reply.status_code == 302
        location = reply.headers["location"]
        assert location.startswith(f"{PUBLIC_URL}/d/{image_id}?")
        assert max(thumbnail_size(api.fetch(location).content)) == min(int(size), 600)


def test_download_ttl_is_honoured(api: Api) -> None:
    image_id = api.upload_ready(PHOTO)["image_id"]

    reply = api.client.get(
        f"/images/{image_id}/download", params={"ttl": 30}, follow_redirects=False
    )

    assert lives(reply.headers["location"], 30)


@pytest.mark.parametrize("size", ["100", "abc", "-128", "1024", ""])
def test_an_unknown_size_is_400(api: Api, size: str) -> None:
    image_id = api.upload_ready(PHOTO)["image_id"]

    reply = api.client.get(f"/images/{image_id}/download", params={"size": size})

    assert reply.status_code == 400
    assert "known: 128, 256, 512, original" in reply.json()["error"]["message"]


def test_a_thumbnail_asked_for_before_it_is_made_is_rendered_on_demand(api: Api) -> None:
    image_id = api.upload(PHOTO).json()["image_id"]  # no worker has run: still processing

    reply = api.client.get(
        f"/images/{image_id}/download", params={"size": "256"}, follow_redirects=False
    )
    fetched = api.fetch(reply.headers["location"])

    assert reply.status_code == 302
    assert fetched.status_code == 200
    assert max(png_size(fetched.content) or (0, 0)) == 256  # the fake engine renders PNGs
