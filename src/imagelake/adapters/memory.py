"""In-memory BlobStore, Catalog and Queue: real, thread-safe, and used by unit tests."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import itertools
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from imagelake.adapters.keys import (
    content_type_for,
    open_source,
    validate_key,
    validate_prefix,
)
from imagelake.domain.errors import Conflict, InvalidInput, NotFound
from imagelake.domain.events import ImageStats, RequestRecord
from imagelake.domain.images import ApiKey, Image, ImageStatus
from imagelake.domain.signing import Signer
from imagelake.ports import BlobMeta, DeadLetter, Message


class MemoryBlobStore:
    def __init__(self, base_url: str, signer: Signer) -> None:
        self._base_url = base_url.rstrip("/")
        self._signer = signer
        self._blobs: dict[str, tuple[bytes, BlobMeta]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        etag = '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'
        meta = BlobMeta(
            key, len(data), content_type or content_type_for(key), etag, datetime.now(UTC)
        )
        with self._lock:
            self._blobs[key] = (bytes(data), meta)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        with open_source(path, key) as source:
            self.put(key, source.read(), content_type)

    def get(self, key: str) -> bytes:
        return self._entry(key)[0]

    def head(self, key: str) -> BlobMeta:
        return self._entry(key)[1]

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._lock:
            self._blobs.pop(key, None)

    def list(self, prefix: str) -> Iterator[str]:
        validate_prefix(prefix)
        with self._lock:
            return iter(sorted(k for k in self._blobs if k.startswith(prefix)))

    def signed_url(self, key: str, ttl: int) -> str:
        validate_key(key)
        expires, signature = self._signer.sign(key, time.time(), ttl)
        path = quote(key, safe="/")
        return f"{self._base_url}/files/{path}?expires={expires}&signature={signature}"

    def _entry(self, key: str) -> tuple[bytes, BlobMeta]:
        validate_key(key)
        with self._lock:
            if key not in self._blobs:
                raise NotFound(f"no blob {key!r}")
            return self._blobs[key]


class MemoryCatalog:
    def __init__(self) -> None:
        self._images: dict[str, Image] = {}
        self._keys: dict[str, ApiKey] = {}
        self._stats: dict[str, ImageStats] = {}
        self._users: dict[str, set[str]] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def add_image(self, image: Image) -> Image:
        with self._lock:
            existing = self._by_sha256(image.sha256)
            if existing is not None:
                return existing
            if image.image_id in self._images:
                raise Conflict(f"image {image.image_id} already exists")
            self._images[image.image_id] = _copy(image)
            return _copy(image)

    def get_image(self, image_id: str) -> Image:
        with self._lock:
            if image_id not in self._images:
                raise NotFound(f"no image {image_id}")
            return _copy(self._images[image_id])

    def find_by_sha256(self, sha256: str) -> Image | None:
        with self._lock:
            return self._by_sha256(sha256)

    def save_image(self, image: Image) -> None:
        with self._lock:
            if image.image_id not in self._images:
                raise NotFound(f"no image {image.image_id}")
            other = self._by_sha256(image.sha256)
            if other is not None and other.image_id != image.image_id:
                raise Conflict(f"another image has sha256 {image.sha256}")
            self._images[image.image_id] = _copy(image)

    def delete_image(self, image_id: str) -> None:
        with self._lock:
            if self._images.pop(image_id, None) is None:
                raise NotFound(f"no image {image_id}")

    def list_images(self, limit: int, cursor: str | None) -> tuple[list[Image], str | None]:
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        after = _decode_cursor(cursor) if cursor else None
        with self._lock:
            ordered = sorted(self._images.values(), key=_newest_first, reverse=True)
        if after is not None:
            ordered = [i for i in ordered if _newest_first(i) < after]
        page = [_copy(i) for i in ordered[:limit]]
        more = len(ordered) > limit
        return page, _encode_cursor(*_newest_first(page[-1])) if more else None

    def images_with_status(self, status: ImageStatus, limit: int) -> list[Image]:
        with self._lock:
            matching = [i for i in self._images.values() if i.status == status]
        return [_copy(i) for i in sorted(matching, key=_newest_first)[:limit]]

    def add_key(self, key: ApiKey) -> None:
        with self._lock:
            if key.key_id in self._keys or self._find_key(key.key_hash):
                raise Conflict(f"API key {key.key_id} already exists")
            self._keys[key.key_id] = dataclasses.replace(key, created_at=_utc(key.created_at))

    def find_key(self, key_hash: str) -> ApiKey | None:
        with self._lock:
            return self._find_key(key_hash)

    def list_keys(self) -> list[ApiKey]:
        with self._lock:
            return sorted(self._keys.values(), key=lambda k: (k.created_at, k.key_id))

    def revoke_key(self, key_id: str) -> None:
        with self._lock:
            if key_id not in self._keys:
                raise NotFound(f"no API key {key_id}")
            self._keys[key_id] = dataclasses.replace(self._keys[key_id], revoked=True)

    def record_requests(self, records: Sequence[RequestRecord]) -> int:
        new = 0
        with self._lock:
            for record in records:
                if record.key in self._seen:
                    continue
                self._seen.add(record.key)
                new += 1
                self._count(record)
        return new

    def get_stats(self, image_id: str) -> ImageStats:
        with self._lock:
            if image_id not in self._stats:
                raise NotFound(f"no requests recorded for image {image_id}")
            return self._stats[image_id]

    def close(self) -> None:
        pass

    def _count(self, record: RequestRecord) -> None:
        at = _utc(record.timestamp)
        users = self._users.setdefault(record.image_id, set())
        users.add(record.user_id)
        old = self._stats.get(record.image_id)
        if old is None:
            old = ImageStats(record.image_id, 0, 0, at, at, record.user_id)
        latest = max((old.last_requested_at, old.last_user_id), (at, record.user_id))
        self._stats[record.image_id] = ImageStats(
            image_id=record.image_id,
            request_count=old.request_count + 1,
            unique_users=len(users),
            first_requested_at=min(old.first_requested_at, at),
            last_requested_at=latest[0],
            last_user_id=latest[1],
        )

    def _by_sha256(self, sha256: str) -> Image | None:
        found = next((i for i in self._images.values() if i.sha256 == sha256), None)
        return None if found is None else _copy(found)

    def _find_key(self, key_hash: str) -> ApiKey | None:
        return next((k for k in self._keys.values() if k.key_hash == key_hash), None)


@dataclasses.dataclass
class _Stored:
    message_id: str
    body: bytes
    sent_at: float
    visible_at: float
    receive_count: int = 0
    receipt: str = ""


class MemoryQueue:
    def __init__(self, name: str) -> None:
        self.name = name
        self._messages: dict[str, _Stored] = {}
        self._dead: dict[str, DeadLetter] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, bodies: Sequence[bytes]) -> None:
        now = time.time()
        with self._lock:
            for body in bodies:
                message_id = str(next(self._ids))
                self._messages[message_id] = _Stored(message_id, bytes(body), now, now)

    def receive(
        self, max_messages: int, visibility_timeout: float, wait: float = 0
    ) -> list[Message]:
        if max_messages < 1 or visibility_timeout < 0:
            raise InvalidInput("max_messages must be >= 1 and visibility_timeout >= 0")
        deadline = time.monotonic() + wait
        pause = 0.05
        while True:
            claimed = self._claim(max_messages, visibility_timeout)
            left = deadline - time.monotonic()
            if claimed or left <= 0:
                return claimed
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.2)

    def ack(self, messages: Sequence[Message]) -> None:
        with self._lock:
            for message in messages:
                if self._held(message):
                    del self._messages[message.message_id]

    def retry(self, message: Message, delay: float) -> None:
        if delay < 0:
            raise InvalidInput("delay must be >= 0")
        with self._lock:
            if self._held(message):
                self._messages[message.message_id].visible_at = time.time() + delay

    def dead_letter(self, message: Message, reason: str) -> None:
        with self._lock:
            if not self._held(message):
                return
            stored = self._messages.pop(message.message_id)
            dead_id = str(next(self._ids))
            self._dead[dead_id] = DeadLetter(
                dead_id, stored.body, reason, stored.receive_count, stored.sent_at, time.time()
            )

    def depth(self) -> int:
        with self._lock:
            return len(self._messages)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            ordered = sorted(
                self._dead.values(), key=lambda d: (d.dead_at, int(d.dead_letter_id)), reverse=True
            )
        return ordered[:limit]

    def replay(self, dead_letter_id: str | None = None) -> int:
        with self._lock:
            if dead_letter_id is not None and dead_letter_id not in self._dead:
                raise NotFound(f"no dead letter {dead_letter_id} in queue {self.name}")
            ids = sorted(self._dead, key=int) if dead_letter_id is None else [dead_letter_id]
            now = time.time()
            for dead_id in ids:
                message_id = str(next(self._ids))
                body = self._dead.pop(dead_id).body
                self._messages[message_id] = _Stored(message_id, body, now, now)
            return len(ids)

    def purge_dead_letters(self) -> int:
        with self._lock:
            count = len(self._dead)
            self._dead.clear()
            return count

    def close(self) -> None:
        pass

    def _claim(self, max_messages: int, visibility_timeout: float) -> list[Message]:
        with self._lock:
            now = time.time()
            visible = [m for m in self._messages.values() if m.visible_at <= now]
            visible.sort(key=lambda m: (m.visible_at, int(m.message_id)))
            for m in visible[:max_messages]:
                m.visible_at, m.receipt = now + visibility_timeout, secrets.token_hex(16)
                m.receive_count += 1
            return [
                Message(m.message_id, m.body, m.receipt, m.receive_count, m.sent_at)
                for m in visible[:max_messages]
            ]

    def _held(self, message: Message) -> bool:
        stored = self._messages.get(message.message_id)
        return stored is not None and stored.receipt == message.receipt


def _utc(at: datetime) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def _copy(image: Image) -> Image:
    """A private copy, in UTC like every other catalog returns."""
    return dataclasses.replace(
        image, created_at=_utc(image.created_at), thumbnails=dict(image.thumbnails)
    )


def _newest_first(image: Image) -> tuple[datetime, str]:
    return _utc(image.created_at), image.image_id


def _encode_cursor(created_at: datetime, image_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{image_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, image_id = base64.urlsafe_b64decode(cursor).decode().split("|", 1)
        return _utc(datetime.fromisoformat(created_at)), image_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("invalid cursor") from None
