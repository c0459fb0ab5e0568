"""Blob key rules shared by every BlobStore, so a key means the same thing on each backend."""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import BinaryIO

from imagelake.domain.errors import BackendError, InvalidInput

MAX_KEY_BYTES = 1024  # S3's limit
MAX_SEGMENT_BYTES = 255  # most file systems' limit on one name
RESERVED_PREFIX = ".imagelake-"  # stores keep their own temporary files under such names

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jsonl": "application/x-ndjson",
    "ndjson": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
    "webp": "image/webp",
    "avif": "image/avif",
    "heic": "image/heic",
}


def validate_key(key: str) -> str:
    """Return key unchanged, or raise InvalidInput if it could alias or escape another key."""
    if not key:
        raise InvalidInput("a blob key must not be empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidInput(f"a blob key must be at most {MAX_KEY_BYTES} bytes")
    if "\\" in key or _CONTROL.search(key):
        raise InvalidInput("a blob key must not contain backslashes or control characters")
    if key.startswith("/"):
        raise InvalidInput("a blob key must be relative: no leading '/'")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidInput("a blob key must not contain empty, '.' or '..' segments")
        if segment.startswith(RESERVED_PREFIX):
            raise InvalidInput(f"names starting with {RESERVED_PREFIX!r} are reserved")
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            raise InvalidInput(f"each part of a blob key must be at most {MAX_SEGMENT_BYTES} bytes")
    return key


def validate_prefix(prefix: str) -> str:
    """Return a listing prefix unchanged: '' or a key, optionally ending in '/'."""
    if prefix:
        validate_key(prefix.removesuffix("/"))
    return prefix


def content_type_for(key: str) -> str:
    """Guess a content type from the key's extension; application/octet-stream if unknown."""
    name = key.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in _CONTENT_TYPES:
        return _CONTENT_TYPES[extension]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def open_source(path: Path, key: str) -> BinaryIO:
    """A local file opened for put_file: BackendError, naming both, when it cannot be read."""
    validate_key(key)
    try:
        return path.open("rb")
    except OSError as exc:
        raise BackendError(f"cannot read {path} to store it as {key!r}: {exc}") from exc
