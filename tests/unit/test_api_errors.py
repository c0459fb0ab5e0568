"""Bad input: a clear JSON error, nothing stored, never a 500, and the service stays up."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import PIL.Image
import pytest

from tests.photos import decompression_bomb, heic_bomb, hevc_heic, photo_bytes
from tests.unit.api_harness import Api, open_api

LIMIT = 200_000


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_api(tmp_path, max_upload_bytes=LIMIT) as api:
        yield api


def assert_refused(api: Api, reply: object, status: int, code: str) -> None:
    from httpx2 import Response

    assert isinstance(reply, Response)
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    error = reply.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert api.wired.container.catalog.list_images(10, None)[0] == []
    assert api.wired.container.jobs.depth() == 0
    assert api.healthy()


def bmp() -> bytes:
    out = io.BytesIO()
    PIL.Image.new("RGB", (8, 8)).save(out, "BMP")
    return out.getvalue()


BAD_INPUTS: dict[str, tuple[Callable[[], bytes], int, str]] = {
    "empty": (lambda: b"", 415, "unsupported_media_type"),
    "text": (lambda: b"hello, I am not an image\n" * 10, 415, "unsupported_media_type"),
    "html": (lambda: b"<!doctype html><body>hi</body>", 415, "unsupported_media_type"),
    "bmp": (bmp, 415, "unsupported_media_type"),
    "svg": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"/>', 415, "unsupported_media_type"),
    "heic, unknown codec": (lambda: hevc_heic().replace(b"hvc1", b"xyz1"), 422, "corrupt_image"),
    "truncated jpeg": (lambda: photo_bytes("coffee")[:20_000], 422, "corrupt_image"),
    "truncated png": (lambda: photo_bytes("coffee", "png")[:30_000], 422, "corrupt_image"),
    "truncated gif": (lambda: photo_bytes("coffee", "gif")[:-40], 422, "corrupt_image"),
    "jpeg magic, then noise": (
        lambda: b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9",
        422,
        "corrupt_image",
    ),
    "png bomb": (lambda: decompression_bomb("png"), 422, "image_too_large"),
    "jpeg bomb": (lambda: decompression_bomb("jpeg"), 422, "image_too_large"),
    "gif bomb": (lambda: decompression_bomb("gif"), 422, "image_too_large"),
    "heic bomb": (heic_bomb, 422, "image_too_large"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_uploads_get_a_clear_error(api: Api, name: str) -> None:
    make, status, code = BAD_INPUTS[name]
    data = make()

    raw = api.upload(data, "image/jpeg")
    multipart = api.client.post("/images", files={"file": ("x.jpg", data, "image/jpeg")})

    assert_refused(api, raw, status, code)
    assert_refused(api, multipart, status, code)


def test_a_decompression_bomb_is_refused_from_its_header(api: Api) -> None:
    # The bomb has almost no pixel data: decoding it would report a corrupt image instead.
    reply = api.upload(decompression_bomb("png", 30_000, 30_000))

    assert reply.json()["error"]["message"] == (
        "30000x30000 is 900000000 pixels; the limit is 100000000"
    )


def test_max_pixels_is_configurable(tmp_path: Path) -> None:
    with open_api(tmp_path, max_pixels=100_000) as api:
        reply = api.upload(photo_bytes("coffee"))  # 600x400 = 240,000 pixels

        assert_refused(api, reply, 422, "image_too_large")


def chunks(data: bytes, size: int = 16_384) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_body_over_the_limit_is_413_with_a_length(api: Api) -> None:
    big = b"\xff\xd8\xff" + bytes(LIMIT)

    raw = api.upload(big)
    multipart = api.client.post("/images", files={"file": ("big.jpg", big, "image/jpeg")})

    assert "content-length" in raw.request.headers
    assert_refused(api, raw, 413, "payload_too_large")
    assert_refused(api, multipart, 413, "payload_too_large")


def test_a_body_over_the_limit_is_413_when_chunked(api: Api) -> None:
    big = b"\xff\xd8\xff" + bytes(LIMIT)
    form = api.client.build_request(
        "POST", "/images", files={"file": ("big.jpg", big, "image/jpeg")}
    )
    form_body = form.read()

    raw = api.client.post("/images", content=chunks(big), headers={"Content-Type": "image/jpeg"})
    multipart = api.client.post(
        "/images",
        content=chunks(form_body),
        headers={"Content-Type": form.headers["content-type"]},
    )

    assert "content-length" not in raw.request.headers
    assert raw.request.headers["transfer-encoding"] == "chunked"
    assert_refused(api, raw, 413, "payload_too_large")
    assert_refused(api, multipart, 413, "payload_too_large")


def test_a_body_at_the_limit_is_accepted(tmp_path: Path) -> None:
    data = photo_bytes("coffee")
    with open_api(tmp_path, max_upload_bytes=len(data)) as api:
        assert api.upload(data).status_code == 201
        assert api.client.post("/images", content=chunks(data)).status_code == 200


def test_the_compat_route_has_the_same_limit(api: Api) -> None:
    reply = api.client.post(
        "/upload_image",
        content=b"\xff\xd8\xff" + bytes(LIMIT),
        headers={"Content-Type": "image/jpg"},
    )

    assert_refused(api, reply, 413, "payload_too_large")


def test_a_malformed_multipart_body_is_400(api: Api) -> None:
    reply = api.client.post(
        "/images",
        content=b"--xyz\r\nContent-Disposition: form-data\r\n\r\ntruncated",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )

    assert 400 <= reply.status_code < 500
    assert "error" in reply.json()
    assert api.healthy()


def test_a_multipart_upload_with_two_file_fields_is_400_naming_them(api: Api) -> None:
    photo = photo_bytes("coffee")
    files = [("file", ("a.jpg", photo, "image/jpeg")), ("file", ("b.jpg", photo, "image/jpeg"))]

    reply = api.client.post("/images", files=files)

    assert_refused(api, reply, 400, "invalid_input")
    assert "2 fields named 'file'" in reply.json()["error"]["message"]
