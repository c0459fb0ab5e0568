"""BlobStore on a local directory: atomic, durable writes; keys map to relative paths."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from imagelake.adapters.blob_keys import (
    RESERVED_PREFIX,
    content_type_for,
    open_source,
    validate_key,
    validate_prefix,
)
from imagelake.domain.errors import BackendError, Conflict, InvalidInput, NotFound
from imagelake.domain.signing import Signer
from imagelake.ports import BlobMeta

COPY_CHUNK = 1 << 20


class LocalBlobStore:
    def __init__(self, root: Path, base_url: str, signer: Signer) -> None:
        self._root = root.resolve()
        self._base_url = base_url.rstrip("/")
        self._signer = signer

    def path_of(self, key: str) -> Path:
        """The file a key lives in; InvalidInput if the key is malformed or leads out of root."""
        path = (self._root / validate_key(key)).resolve()
        if not path.is_relative_to(self._root) or path == self._root:
            raise InvalidInput(f"blob key {key!r} leads outside the store")
        return path

    def local_path(self, key: str) -> Path:
        """The key's file, for reading. No resolve(): validate_key already refuses every key
        that could leave the root ('..', absolute, backslashes), and only the operator can
        put a symbolic link inside the store. Writes and deletes still resolve (path_of)."""
        return self._root / validate_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._write(key, lambda file: file.write(data))

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """The file itself becomes the blob where it can (a hard link), else a copy of it."""
        with open_source(path, key) as source:
            self._write(key, lambda file: shutil.copyfileobj(source, file, COPY_CHUNK), link=source)

    def _write(
        self, key: str, write: Callable[[BinaryIO], object], link: BinaryIO | None = None
    ) -> None:
        """Write through a temporary file, fsync it, rename it into place, fsync the folder.

        With link, the temporary file is that open file, hard-linked, when the filesystem
        allows it (same device): no copy.
        """
        path = self.path_of(key)
        try:
            self._make_dirs(path.parent)
            tmp = path.parent / f"{RESERVED_PREFIX}{secrets.token_hex(8)}"
            try:
                if link is None or not _hard_link(link, tmp):
                    with tmp.open("xb") as file:
                        write(file)
                        file.flush()
                        os.fsync(file.fileno())
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(path.parent)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise Conflict(f"blob key {key!r} clashes with an existing key's folder") from None
        except OSError as exc:
            raise BackendError(f"cannot write blob {key!r}: {exc}") from exc

    def get(self, key: str) -> bytes:
        path = self.path_of(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"no blob {key!r}") from None
        except OSError as exc:
            raise BackendError(f"cannot read blob {key!r}: {exc}") from exc

    def head(self, key: str) -> BlobMeta:
        path = self.path_of(key)
        try:
            with path.open("rb") as file:
                stat = os.fstat(file.fileno())
                digest = hashlib.file_digest(file, lambda: hashlib.md5(usedforsecurity=False))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"no blob {key!r}") from None
        except OSError as exc:
            raise BackendError(f"cannot read blob {key!r}: {exc}") from exc
        return BlobMeta(
            key=key,
            size=stat.st_size,
            content_type=content_type_for(key),
            etag=f'"{digest.hexdigest()}"',
            modified=datetime.fromtimestamp(stat.st_mtime_ns / 1e9, UTC),
        )

    def delete(self, key: str) -> None:
        path = self.path_of(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        except OSError as exc:
            raise BackendError(f"cannot delete blob {key!r}: {exc}") from exc
        _fsync_dir(path.parent)

    def list(self, prefix: str) -> Iterator[str]:
        validate_prefix(prefix)
        folder = prefix.rpartition("/")[0]
        if folder:
            self.path_of(folder)
        start = self._root / folder
        root = len(str(self._root)) + 1  # os.walk's paths start with it: slicing beats pathlib
        keys: list[str] = []
        for dirpath, _, filenames in os.walk(start):
            relative = dirpath[root:]
            base = relative + "/" if relative else ""
            keys.extend(
                base + name
                for name in filenames
                if not name.startswith(RESERVED_PREFIX) and (base + name).startswith(prefix)
            )
        return iter(sorted(keys))

    def signed_url(self, key: str, ttl: int) -> str:
        validate_key(key)
        expires, signature = self._signer.sign(key, time.time(), ttl)
        path = quote(key, safe="/")
        return f"{self._base_url}/files/{path}?expires={expires}&signature={signature}"

    def _make_dirs(self, folder: Path) -> None:
        # Each new folder's entry must reach the disk too, or a crash can orphan the file.
        missing = []
        while not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for new in reversed(missing):
            try:
                new.mkdir()
            except FileExistsError:
                if not new.is_dir():
                    raise
            _fsync_dir(new.parent)


def _hard_link(source: BinaryIO, tmp: Path) -> bool:
    """Give source's file the name tmp and make its bytes durable; False where it can't be.

    Another filesystem (EXDEV) or one without hard links refuses; a path replaced since it
    was opened is undone, so the blob is always the file that was opened.
    """
    try:
        os.link(source.name, tmp)
    except OSError:
        return False
    if not os.path.samestat(os.stat(tmp), os.fstat(source.fileno())):
        tmp.unlink()
        return False
    os.fsync(source.fileno())
    return True


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
