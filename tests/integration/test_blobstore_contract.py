"""The BlobStore contract, run over every backend in conftest.BLOB_STORES."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from imagelake.adapters.embedded.files import LocalBlobStore
from imagelake.domain.errors import BackendError, Conflict, Forbidden, InvalidInput, NotFound
from imagelake.domain.signing import Signer
from imagelake.ports import BlobStore

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/..",
    "./a",
    "a/./b",
    "a//b",
    "a/",
    "a\\..\\b",
    "a\x00b",
    "a\nb",
    "x" * 2000,
    ".imagelake-tmp",
]

OPERATIONS: dict[str, Callable[[BlobStore, str], object]] = {
    "put": lambda store, key: store.put(key, b"data", "application/octet-stream"),
    "put_file": lambda store, key: store.put_file(key, Path(__file__), "text/x-python"),
    "get": lambda store, key: store.get(key),
    "head": lambda store, key: store.head(key),
    "delete": lambda store, key: store.delete(key),
    "signed_url": lambda store, key: store.signed_url(key, 60),
}


def test_put_then_get_returns_the_same_bytes(blob_store: BlobStore) -> None:
    data = bytes(range(256)) * 100
    blob_store.put("originals/a.jpg", data, "image/jpeg")

    assert blob_store.get("originals/a.jpg") == data


def test_put_file_stores_a_large_file_streamed(blob_store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(17 * 1024 * 1024)  # above S3's multipart threshold
    source = tmp_path / "part.parquet"
    source.write_bytes(data)

    blob_store.put_file("events/parquet/part-a.parquet", source, "application/vnd.apache.parquet")

    assert blob_store.get("events/parquet/part-a.parquet") == data
    meta = blob_store.head("events/parquet/part-a.parquet")
    assert (meta.size, meta.content_type) == (len(data), "application/vnd.apache.parquet")
    assert source.read_bytes() == data  # the local file is left as it was


def test_put_file_of_a_missing_file_fails_and_stores_nothing(
    blob_store: BlobStore, tmp_path: Path
) -> None:
    with pytest.raises(BackendError, match=r"cannot read .*missing\.parquet"):
        blob_store.put_file("events/x.parquet", tmp_path / "missing.parquet", "")

    assert list(blob_store.list("events/")) == []


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("thumbnails/x/128.jpg", "image/jpeg"),
        ("events/raw/dt=2021-07-11/b.jsonl", "application/x-ndjson"),
        ("events/tables/requests.parquet", "application/vnd.apache.parquet"),
        ("originals/y.png", "image/png"),
    ],
)
def test_head_describes_the_blob(blob_store: BlobStore, key: str, content_type: str) -> None:
    blob_store.put(key, b"12345", content_type)

    meta = blob_store.head(key)

    assert (meta.key, meta.size, meta.content_type) == (key, 5, content_type)
    assert meta.etag.startswith('"') and meta.etag.endswith('"') and len(meta.etag) > 2
    assert meta.modified.utcoffset() == timedelta(0)


def test_missing_blob_is_not_found(blob_store: BlobStore) -> None:
    with pytest.raises(NotFound):
        blob_store.get("originals/missing.jpg")
    with pytest.raises(NotFound):
        blob_store.head("originals/missing.jpg")


def test_delete_removes_the_blob_and_is_silent_when_absent(blob_store: BlobStore) -> None:
    blob_store.put("a/b.jpg", b"x", "image/jpeg")

    blob_store.delete("a/b.jpg")
    blob_store.delete("a/b.jpg")
    blob_store.delete("never/was.jpg")

    with pytest.raises(NotFound):
        blob_store.get("a/b.jpg")
    assert list(blob_store.list("a/")) == []


def test_overwrite_replaces_content_and_changes_the_etag(blob_store: BlobStore) -> None:
    blob_store.put("k.bin", b"first", "application/octet-stream")
    first = blob_store.head("k.bin")
    blob_store.put("k.bin", b"other", "application/octet-stream")  # same size on purpose
    second = blob_store.head("k.bin")
    blob_store.put("k.bin", b"longer content", "application/octet-stream")

    assert first.etag != second.etag
    assert blob_store.get("k.bin") == b"longer content"
    assert blob_store.head("k.bin").size == len(b"longer content")
    assert list(blob_store.list("")) == ["k.bin"]


def test_same_content_has_the_same_etag(blob_store: BlobStore) -> None:
    blob_store.put("one.bin", b"same bytes", "application/octet-stream")
    blob_store.put("two.bin", b"same bytes", "application/octet-stream")

    assert blob_store.head("one.bin").etag == blob_store.head("two.bin").etag


def test_list_yields_sorted_keys_under_a_prefix(blob_store: BlobStore) -> None:
    keys = ["a/2.jpg", "a/1.jpg", "ab/3.jpg", "a/deep/er/4.jpg", "b/5.jpg", "top.jpg"]
    for key in keys:
        blob_store.put(key, b"x", "image/jpeg")

    assert list(blob_store.list("a/")) == ["a/1.jpg", "a/2.jpg", "a/deep/er/4.jpg"]
    assert list(blob_store.list("a")) == ["a/1.jpg", "a/2.jpg", "a/deep/er/4.jpg", "ab/3.jpg"]
    assert list(blob_store.list("a/deep/")) == ["a/deep/er/4.jpg"]
    assert list(blob_store.list("")) == sorted(keys)
    assert list(blob_store.list("nothing/")) == []


def test_keys_may_hold_spaces_and_unicode(blob_store: BlobStore) -> None:
    key = "originals/été 2021/photo #1.jpg"
    blob_store.put(key, b"x", "image/jpeg")

    assert blob_store.get(key) == b"x"
    assert list(blob_store.list("originals/")) == [key]


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_key_path_tricks_are_rejected(blob_store: BlobStore, operation: str, key: str) -> None:
    with pytest.raises(InvalidInput):
        OPERATIONS[operation](blob_store, key)


@pytest.mark.parametrize("prefix", ["/", "../", "a/../..", "a\\b"])
def test_listing_prefix_tricks_are_rejected(blob_store: BlobStore, prefix: str) -> None:
    with pytest.raises(InvalidInput):
        list(blob_store.list(prefix))


def _split_signed(url: str, base_url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query, strict_parsing=True)
    assert f"{parts.scheme}://{parts.netloc}" == base_url
    assert parts.path.startswith("/files/")
    key = unquote(parts.path.removeprefix("/files/"))
    return key, int(query["expires"][0]), query["signature"][0]


@pytest.mark.parametrize("key", ["originals/a.jpg", "odd/été #1?.jpg"])
def test_signed_url_verifies_with_the_signer(
    hmac_blob_store: BlobStore, signer: Signer, base_url: str, key: str
) -> None:
    hmac_blob_store.put(key, b"x", "image/jpeg")

    signed_key, expires, signature = _split_signed(hmac_blob_store.signed_url(key, 300), base_url)

    assert signed_key == key
    signer.verify(signed_key, expires, signature, now=time.time())


def test_tampered_signed_url_is_refused(
    hmac_blob_store: BlobStore, signer: Signer, base_url: str
) -> None:
    url = hmac_blob_store.signed_url("originals/a.jpg", 300)
    key, expires, signature = _split_signed(url, base_url)
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]

    with pytest.raises(Forbidden):
        signer.verify("originals/b.jpg", expires, signature, now=time.time())
    with pytest.raises(Forbidden):
        signer.verify(key, expires + 3600, signature, now=time.time())
    with pytest.raises(Forbidden):
        signer.verify(key, expires, forged, now=time.time())


def test_signed_url_expires(hmac_blob_store: BlobStore, signer: Signer, base_url: str) -> None:
    key, expires, signature = _split_signed(hmac_blob_store.signed_url("a.jpg", 60), base_url)

    with pytest.raises(Forbidden):
        signer.verify(key, expires, signature, now=expires + 1)


# LocalBlobStore specifics: files on disk.


def test_local_path_of_points_into_root(tmp_path: Path, signer: Signer, base_url: str) -> None:
    store = LocalBlobStore(tmp_path, base_url, signer)
    store.put("a/b.jpg", b"x", "image/jpeg")

    assert store.path_of("a/b.jpg") == (tmp_path / "a" / "b.jpg").resolve()
    assert store.path_of("a/b.jpg").read_bytes() == b"x"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.jpg"]  # no temp files left


def test_local_store_refuses_a_symlink_out_of_root(
    tmp_path: Path, signer: Signer, base_url: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (tmp_path / "root").mkdir()
    os.symlink(outside, tmp_path / "root" / "link")
    store = LocalBlobStore(tmp_path / "root", base_url, signer)

    with pytest.raises(InvalidInput):
        store.get("link/secret.txt")
    with pytest.raises(InvalidInput):
        store.put("link/new.txt", b"x", "text/plain")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_local_store_ignores_its_own_temp_files(
    tmp_path: Path, signer: Signer, base_url: str
) -> None:
    store = LocalBlobStore(tmp_path, base_url, signer)
    store.put("a/b.jpg", b"x", "image/jpeg")
    (tmp_path / "a" / ".imagelake-0123456789abcdef").write_bytes(b"half-written")

    assert list(store.list("")) == ["a/b.jpg"]


def test_local_key_that_needs_a_blob_as_a_folder_is_a_conflict(
    tmp_path: Path, signer: Signer, base_url: str
) -> None:
    store = LocalBlobStore(tmp_path, base_url, signer)
    store.put("a", b"x", "application/octet-stream")

    with pytest.raises(Conflict):
        store.put("a/b", b"y", "application/octet-stream")
    with pytest.raises(NotFound):
        store.get("a/b")
    assert store.get("a") == b"x"


def test_local_put_file_on_the_same_filesystem_keeps_the_file_itself(
    tmp_path: Path, signer: Signer, base_url: str
) -> None:
    store = LocalBlobStore(tmp_path / "root", base_url, signer)
    source = tmp_path / "part.parquet"
    source.write_bytes(b"parquet bytes")

    store.put_file("events/p.parquet", source, "application/vnd.apache.parquet")
    stored = store.path_of("events/p.parquet")

    assert os.path.samestat(os.stat(stored), os.stat(source))  # linked, not copied
    source.unlink()  # the caller cleans up its temporary file
    assert store.get("events/p.parquet") == b"parquet bytes"
    assert sorted(p.name for p in stored.parent.iterdir()) == ["p.parquet"]


def test_local_put_file_from_another_filesystem_copies(
    tmp_path: Path, signer: Signer, base_url: str
) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a filesystem of its own")
    store = LocalBlobStore(tmp_path / "root", base_url, signer)
    with tempfile.NamedTemporaryFile(dir=shm, suffix=".parquet") as source:
        source.write(b"parquet bytes")
        source.flush()

        store.put_file("events/p.parquet", Path(source.name), "application/vnd.apache.parquet")

        stored = store.path_of("events/p.parquet")
        assert not os.path.samestat(os.stat(stored), os.stat(source.name))
    assert store.get("events/p.parquet") == b"parquet bytes"


def test_local_put_file_stores_the_file_it_opened_even_if_its_path_is_replaced(
    tmp_path: Path, signer: Signer, base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobStore(tmp_path / "root", base_url, signer)
    source = tmp_path / "part.parquet"
    source.write_bytes(b"the file opened")
    real_link = os.link

    def replace_then_link(src: str, dst: Path) -> None:  # another process swaps the path in between
        other = tmp_path / "other"
        other.write_bytes(b"a file swapped in")
        os.replace(other, src)
        real_link(src, dst)

    monkeypatch.setattr(os, "link", replace_then_link)
    store.put_file("events/p.parquet", source, "application/vnd.apache.parquet")

    assert store.get("events/p.parquet") == b"the file opened"
    stored = store.path_of("events/p.parquet")
    assert sorted(p.name for p in stored.parent.iterdir()) == ["p.parquet"]
