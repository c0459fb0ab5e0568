"""/files over a real directory store: no path trick reaches a byte outside it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.photos import photo_bytes
from tests.unit.api_harness import Api, open_api

SECRET = b"TOP-SECRET-NEXT-TO-THE-STORE"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    store = tmp_path / "store"
    store.mkdir()
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "store-sibling").mkdir()
    (tmp_path / "store-sibling" / "secret.txt").write_bytes(SECRET)
    with open_api(tmp_path, blobs=f"file://{store}") as api:
        yield api


TRICKS = [
    "/files/%2e%2e/secret.txt",
    "/files/..%2Fsecret.txt",
    "/files/%2E%2E%2Fsecret.txt",
    "/files/originals/%2e%2e/%2e%2e/secret.txt",
    "/files/..%2Fstore-sibling%2Fsecret.txt",
    "/files/%2F{root}%2Fsecret.txt",
    "/files//{root}/secret.txt",
    "/files/..%5Csecret.txt",
    "/files/originals%5C..%5C..%5Csecret.txt",
    "/files/originals/.%2F..%2F..%2Fsecret.txt",
    "/files/%252e%252e%252fsecret.txt",
]


@pytest.mark.parametrize("trick", TRICKS)
def test_no_path_trick_reads_outside_the_store(api: Api, tmp_path: Path, trick: str) -> None:
    path = trick.format(root=str(tmp_path).strip("/").replace("/", "%2F"))
    key = unquote(path.removeprefix("/files/"))
    expires, signature = api.wired.container.signer.sign(key, time.time(), 600)

    reply = api.client.get(f"{path}?expires={expires}&signature={signature}")

    assert reply.status_code in (400, 403, 404), reply.status_code
    assert SECRET not in reply.content
    assert reply.json()["error"]["code"] in ("invalid_input", "not_found", "forbidden")
    assert api.healthy()


def test_a_symlink_planted_in_the_store_is_not_followed_outside(api: Api, tmp_path: Path) -> None:
    originals = tmp_path / "store" / "originals"
    originals.mkdir(parents=True)
    os.symlink(tmp_path / "secret.txt", originals / "leak.txt")
    expires, signature = api.wired.container.signer.sign("originals/leak.txt", time.time(), 600)

    reply = api.client.get(f"/files/originals/leak.txt?expires={expires}&signature={signature}")

    assert reply.status_code == 400
    assert SECRET not in reply.content


def test_the_same_route_serves_files_inside_the_store(api: Api) -> None:
    data = photo_bytes("coffee")
    image = api.upload_ready(data)

    assert api.fetch(image["original_url"]).content == data
    for url in image["thumbnails"].values():
        assert api.fetch(url).headers["content-type"] == "image/jpeg"


@pytest.fixture
def stored(api: Api) -> tuple[str, bytes]:
    """A signed URL of an original in the directory store, and its bytes."""
    data = photo_bytes("coffee")
    return api.upload(data).json()["original_url"], data


def test_head_describes_the_file_without_sending_it(api: Api, stored: tuple[str, bytes]) -> None:
    url, data = stored
    full = api.fetch(url)
    parts = urlsplit(url)

    head = api.client.head(f"{parts.path}?{parts.query}", headers={"Authorization": ""})

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["accept-ranges"] == "bytes"
    for name in ("etag", "content-type", "cache-control"):
        assert head.headers[name] == full.headers[name], name


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [("bytes=10-19", 10, 19), ("bytes=100-", 100, -1), ("bytes=-5", -5, -1)],
    ids=["closed", "open", "suffix"],
)
def test_a_single_range_is_206_with_its_bytes(
    api: Api, stored: tuple[str, bytes], spec: str, first: int, last: int
) -> None:
    url, data = stored
    start, end = first % len(data), last % len(data)

    reply = api.fetch(url, Range=spec)

    assert reply.status_code == 206
    assert reply.content == data[start : end + 1]
    assert reply.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert reply.headers["accept-ranges"] == "bytes"


def test_a_range_past_the_end_is_416(api: Api, stored: tuple[str, bytes]) -> None:
    url, data = stored

    reply = api.fetch(url, Range=f"bytes={len(data)}-")

    assert reply.status_code == 416
    assert reply.headers["content-range"] == f"bytes */{len(data)}"


def test_a_range_of_a_changed_file_gets_the_whole_file(api: Api, stored: tuple[str, bytes]) -> None:
    url, data = stored
    etag = api.fetch(url).headers["etag"]

    same = api.fetch(url, Range="bytes=0-9", **{"If-Range": etag})
    changed = api.fetch(url, Range="bytes=0-9", **{"If-Range": '"an-older-version"'})

    assert (same.status_code, same.content) == (206, data[:10])
    assert (changed.status_code, changed.content) == (200, data)
