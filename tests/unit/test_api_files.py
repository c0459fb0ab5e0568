"""GET /files/{key}: the embedded store's own signed URLs (what the delivery route redirects to
where it redirects, and what links minted before delivery links were)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

from imagelake.domain.signing import Signer
from tests.unit.api_harness import SIGNING_KEY, Api, open_api
from tests.unit.fakes import FakeImageEngine, png

PHOTO, OTHER_PHOTO = png(600, 400), png(600, 400, seed=1)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # The service signs with a new key and still accepts links made with the retired one.
    with open_api(tmp_path, FakeImageEngine(), signing_keys_previous="retired-key") as api:
        yield api


def original_file(api: Api, data: bytes, content_type: str = "image/png") -> str:
    """A /files link to the stored original of an upload."""
    image_id = api.upload(data, content_type).json()["image_id"]
    image = api.wired.container.catalog.get_image(image_id)
    return api.wired.container.blobs.signed_url(image.original_key, 3600)


def key_of(url: str) -> str:
    return urlsplit(url).path.removeprefix("/files/")


def link(key: str, signer: Signer, ttl: int = 600, now: float | None = None) -> str:
    expires, signature = signer.sign(key, time.time() if now is None else now, ttl)
    return f"/files/{quote(key)}?expires={expires}&signature={signature}"


def test_a_signed_url_serves_the_bytes_with_type_etag_and_cache_headers(api: Api) -> None:
    data = PHOTO
    url = original_file(api, data, "application/octet-stream")
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])

    reply = api.fetch(url)

    assert reply.status_code == 200
    assert reply.content == data
    assert reply.headers["content-type"] == "image/png"
    assert reply.headers["etag"].startswith('"') and len(reply.headers["etag"]) > 10
    max_age = int(reply.headers["cache-control"].split("max-age=")[1])
    assert expires - time.time() - 2 <= max_age <= expires - time.time() + 1


def test_if_none_match_with_the_etag_is_304_without_a_body(api: Api) -> None:
    url = original_file(api, PHOTO)
    etag = api.fetch(url).headers["etag"]

    unchanged = api.fetch(url, **{"If-None-Match": etag})
    other = api.fetch(url, **{"If-None-Match": '"something-else"'})

    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert other.status_code == 200
    for listed in (f'"a", {etag}', f"W/{etag}", "*"):
        assert api.fetch(url, **{"If-None-Match": listed}).status_code == 304, listed


def test_files_need_no_api_key(api: Api) -> None:
    url = original_file(api, PHOTO)

    reply = api.fetch(url)  # sends an empty Authorization header

    assert reply.status_code == 200


def test_a_tampered_link_is_403(api: Api) -> None:
    url = original_file(api, PHOTO)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    expires, signature = query["expires"][0], query["signature"][0]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    other_key = original_file(api, OTHER_PHOTO)

    for path in (
        f"{parts.path}?expires={expires}&signature={flipped}",
        f"{parts.path}?expires={int(expires) + 1}&signature={signature}",
        f"{urlsplit(other_key).path}?expires={expires}&signature={signature}",
        f"{parts.path}?expires={expires}",
        f"{parts.path}?signature={signature}",
        f"{parts.path}?expires=soon&signature={signature}",
        parts.path,
    ):
        reply = api.client.get(path)
        assert reply.status_code == 403, path
        assert reply.json()["error"]["code"] == "forbidden"


def test_an_expired_link_is_403(api: Api) -> None:
    url = original_file(api, PHOTO)
    signer = api.wired.container.signer

    reply = api.client.get(link(key_of(url), signer, ttl=60, now=time.time() - 3600))

    assert reply.status_code == 403
    assert "expired" in reply.json()["error"]["message"]


def test_links_signed_with_the_previous_key_still_work(api: Api) -> None:
    url = original_file(api, PHOTO)

    retired = api.client.get(link(key_of(url), Signer(b"retired-key")))
    current = api.client.get(link(key_of(url), Signer(SIGNING_KEY.encode())))
    unknown = api.client.get(link(key_of(url), Signer(b"never-configured")))

    assert retired.status_code == 200
    assert current.status_code == 200
    assert unknown.status_code == 403


def test_a_signed_link_to_a_missing_blob_is_404(api: Api) -> None:
    reply = api.client.get(link("originals/nothing-here.jpg", api.wired.container.signer))

    assert reply.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/files/%2e%2e/secret.txt",
        "/files/..%2Fsecret.txt",
        "/files/originals/%2e%2e%2F%2e%2e%2Fsecret.txt",
        "/files/%2Fetc%2Fpasswd",
        "/files//etc/passwd",
        "/files/originals/..%5C..%5Csecret.txt",
        "/files/originals%00/x.jpg",
    ],
)
def test_path_tricks_are_refused_even_with_a_valid_signature(api: Api, path: str) -> None:
    # Sign exactly the key the route will see, so only the key check can refuse it.
    key = unquote(path.removeprefix("/files/"))
    expires, signature = api.wired.container.signer.sign(key, time.time(), 600)

    reply = api.client.get(f"{path}?expires={expires}&signature={signature}")

    assert reply.status_code in (400, 404)
    assert "error" in reply.json()
