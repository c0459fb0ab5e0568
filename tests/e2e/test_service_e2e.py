"""The embedded service over real HTTP: upload, thumbnails, downloads, deletes, bad input."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import pyvips

from imagelake.domain.signing import Signer
from tests.e2e.service import Service
from tests.photos import (
    FORMATS,
    can_encode,
    damaged_in_the_middle,
    decompression_bomb,
    hevc_heic,
    large_photo,
    load_photo,
    oriented,
    photo_bytes,
)

SIZES = ("128", "256", "512")
SECRET = b"SECRET-BESIDE-THE-STORE"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the tests that only add images."""
    data_dir = tmp_path_factory.mktemp("shared") / "data"
    svc = Service(data_dir).start()
    (data_dir / "secret.txt").write_bytes(SECRET)
    yield svc
    svc.stop()


def jpeg_size(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    assert image.get("vips-loader").startswith("jpegload")
    return int(image.width), int(image.height)


def upload(client: httpx.Client, data: bytes, content_type: str = "image/jpeg") -> httpx.Response:
    return client.post("/images", content=data, headers={"Content-Type": content_type})


def test_upload_ready_download_fetch_delete(service: Service) -> None:
    data = large_photo(6.0, "rocket", seed=1)  # a 6 MP camera JPEG, landscape
    width, height = jpeg_size(data)
    with service.client() as client, httpx.Client(timeout=30) as anonymous:
        created = upload(client, data)
        assert created.status_code == 201
        image_id = created.json()["image_id"]
        assert (created.json()["width"], created.json()["height"]) == (width, height)

        ready = service.wait_for(image_id)
        assert isinstance(ready["thumbnails"], dict)
        assert set(ready["thumbnails"]) == set(SIZES)

        original = client.get(f"/images/{image_id}/download")
        assert original.status_code == 302
        fetched = anonymous.get(original.headers["location"])
        assert fetched.status_code == 200
        assert fetched.content == data
        for size in SIZES:
            redirect = client.get(f"/images/{image_id}/download", params={"size": size})
            assert redirect.status_code == 302
            thumbnail = anonymous.get(redirect.headers["location"])
            assert thumbnail.headers["content-type"] == "image/jpeg"
            assert jpeg_size(thumbnail.content) == (int(size), round(height * int(size) / width))

        assert client.delete(f"/images/{image_id}").status_code == 204
        assert client.get(f"/images/{image_id}").status_code == 404
        assert anonymous.get(original.headers["location"]).status_code == 404
    leftovers = [p for p in (service.data_dir / "blobs").rglob("*") if image_id in str(p)]
    assert [p for p in leftovers if p.is_file()] == []


def test_every_format_the_engine_reads_reaches_ready(shared: Service) -> None:
    assert all(can_encode(fmt) for fmt in FORMATS)  # HEIC is HEVC-coded, as phones write it
    uploaded: dict[str, str] = {}
    with shared.client() as client:
        for fmt in FORMATS:
            reply = upload(client, photo_bytes("chelsea", fmt), "application/octet-stream")
            assert reply.status_code == 201, (fmt, reply.text)
            assert reply.json()["content_type"] == f"image/{fmt}"
            uploaded[fmt] = reply.json()["image_id"]
        for fmt, image_id in uploaded.items():
            ready = shared.wait_for(image_id)
            assert isinstance(ready["thumbnails"], dict)
            thumbnail = httpx.get(ready["thumbnails"]["256"], timeout=30)
            assert jpeg_size(thumbnail.content) == (256, 170), fmt
    # libvips narrates each step of every job at INFO (dozens of lines an image): not logged.
    assert "INFO pyvips" not in shared.log()


def test_a_phone_heic_turned_on_its_side_is_read_upright(shared: Service) -> None:
    # HEVC inside (the libvips wheel cannot decode it), the turn in irot and in the EXIF.
    photo = load_photo("chelsea")  # 451 x 300, landscape
    with shared.client() as client:
        reply = upload(client, hevc_heic(oriented(photo, 6)), "application/octet-stream")
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["content_type"], body["width"], body["height"]) == ("image/heic", 300, 451)

    ready = shared.wait_for(body["image_id"])
    assert isinstance(ready["thumbnails"], dict)
    thumbnail = httpx.get(ready["thumbnails"]["256"], timeout=30).content
    assert jpeg_size(thumbnail) == (170, 256)
    shown = pyvips.Image.new_from_buffer(thumbnail, "").cast("float")
    for turn, closest in (("d90", True), ("d270", False)):  # clockwise is how it displays
        upright = photo.rot(turn)
        upright = upright.resize(170 / upright.width, vscale=256 / upright.height)
        difference = (shown - upright.cast("float")).abs().avg()
        assert (difference < 12) is closest, (turn, difference)


def chunked(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_bad_inputs_over_http_and_the_service_stays_healthy(shared: Service) -> None:
    too_big = b"\xff\xd8\xff" + bytes(60 * 1024 * 1024)
    cases: list[tuple[str, Any, int, str]] = [
        ("empty", b"", 415, "unsupported_media_type"),
        ("text", b"just some text\n" * 100, 415, "unsupported_media_type"),
        ("truncated", photo_bytes("coffee")[:10_000], 422, "corrupt_image"),
        ("bomb", decompression_bomb("png"), 422, "image_too_large"),
        ("60 MB", too_big, 413, "payload_too_large"),
        ("60 MB chunked", chunked(too_big), 413, "payload_too_large"),
    ]
    with shared.client() as client:
        for name, body, status, code in cases:
            reply = upload(client, body)
            assert reply.status_code == status, name
            assert reply.json()["error"]["code"] == code, name
            assert client.get("/healthz").status_code == 200, name
        multipart = client.post("/images", files={"file": ("big.jpg", too_big, "image/jpeg")})
        assert multipart.status_code == 413
        assert client.get("/healthz").json()["status"] == "ok"


def test_a_file_that_fails_in_the_worker_ends_failed(shared: Service) -> None:
    with shared.client() as client:
        bad = upload(client, damaged_in_the_middle(photo_bytes("coffee"))).json()["image_id"]
        good = upload(client, photo_bytes("rocket", quality=77)).json()["image_id"]
    failed = shared.wait_for(bad, "failed")
    assert failed["failure_reason"] == (
        "cannot decode the image: Corrupt JPEG data: premature end of data segment"
    )
    shared.wait_for(good)


def raw_get(svc: Service, target: str) -> tuple[int, bytes]:
    """Send the request line exactly as written: no client normalises the path first."""
    with socket.create_connection(("127.0.0.1", svc.port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1]), reply


@pytest.mark.parametrize(
    "path",
    [
        "/files/../secret.txt",
        "/files/originals/../../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/..%2Fsecret.txt",
        "/files/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/files//{data}/secret.txt",
        "/files/%2F{data}%2Fsecret.txt",
        "/files/..\\secret.txt",
        "/files/..%5Csecret.txt",
    ],
)
def test_path_tricks_never_reach_outside_the_store(shared: Service, path: str) -> None:
    target = path.format(data=str(shared.data_dir).strip("/"))
    key = unquote(target.removeprefix("/files/"))
    signer = Signer((shared.data_dir / "signing.key").read_text().strip().encode())
    expires, signature = signer.sign(key, time.time(), 600)

    status, reply = raw_get(shared, f"{target}?expires={expires}&signature={signature}")

    assert status in (400, 404)
    assert SECRET not in reply
    assert httpx.get(f"{shared.base_url}/healthz").status_code == 200


def test_delivery_links_carry_cache_headers_and_honour_if_none_match(shared: Service) -> None:
    data = photo_bytes("coffee", "png")
    with shared.client() as client:
        url = upload(client, data).json()["original_url"]
    first = httpx.get(url)
    again = httpx.get(url, headers={"If-None-Match": first.headers["etag"]})
    tampered = httpx.get(url[:-1] + ("0" if url[-1] != "0" else "1"))

    assert first.status_code == 200
    assert first.content == data
    assert first.headers["content-type"] == "image/png"
    assert first.headers["cache-control"] == "private, no-cache"  # kept, asked again: counted
    assert again.status_code == 304
    assert tampered.status_code == 403


def test_delivery_links_answer_head_and_ranges_and_are_sandboxed(shared: Service) -> None:
    data = photo_bytes("coffee", "png")
    with shared.client() as client:
        api_reply = upload(client, data)
    url = api_reply.json()["original_url"]
    head = httpx.head(url)
    part = httpx.get(url, headers={"Range": "bytes=0-99"})
    past = httpx.get(url, headers={"Range": f"bytes={len(data)}-"})

    assert api_reply.headers["x-content-type-options"] == "nosniff"
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(data))
    assert (part.status_code, part.content) == (206, data[:100])
    assert part.headers["content-range"] == f"bytes 0-99/{len(data)}"
    assert past.status_code == 416
    for reply in (head, part, past):
        assert reply.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert reply.headers["x-content-type-options"] == "nosniff"


def test_health_metrics_and_files_need_no_key_but_the_api_does(shared: Service) -> None:
    with shared.client(key="") as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        metrics = anonymous.get("/metrics")
        unauthorized = anonymous.get("/images")
    assert metrics.status_code == 200
    for name in (
        "imagelake_uploads_total",
        "imagelake_duplicate_uploads_total",
        "imagelake_thumbnails_total",
        "imagelake_thumbnail_seconds_bucket",
        'imagelake_queue_depth{queue="thumbnails"}',
        "imagelake_failures_total",
    ):
        assert name in metrics.text
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "unauthorized"


def test_signing_key_rotation_keeps_old_links_working(tmp_path: Path) -> None:
    svc = Service(tmp_path / "data").start()
    try:
        with svc.client() as client:
            old_url = upload(client, photo_bytes("coffee")).json()["original_url"]
        old_key = (svc.data_dir / "signing.key").read_text().strip()
        svc.stop()
        svc.extra_env = {
            "IMAGELAKE_SIGNING_KEY": "the-new-key",
            "IMAGELAKE_SIGNING_KEYS_PREVIOUS": old_key,
        }
        svc.start()
        assert httpx.get(old_url).status_code == 200
        svc.stop()
        svc.extra_env = {"IMAGELAKE_SIGNING_KEY": "the-new-key"}
        svc.start()
        assert httpx.get(old_url).status_code == 403
    finally:
        svc.stop()
