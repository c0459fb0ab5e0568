"""/files over a real directory store: no path trick reaches a byte outside it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

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
