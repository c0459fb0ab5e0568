"""In-memory Catalog: real, thread-safe, and used by unit tests."""

from __future__ import annotations

import dataclasses
import threading
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from imagelake.adapters.cursors import decode_cursor, encode_cursor
from imagelake.adapters.tally import ClaimingTally, ImageTally
from imagelake.domain.errors import Conflict, InvalidInput, NotFound
from imagelake.domain.events import ImageStats, RequestRecord
from imagelake.domain.images import ApiKey, DashboardSession, Image, ImageStatus


class MemoryCatalog(ClaimingTally[object]):  # the tally's transaction is the lock
    def __init__(self) -> None:
        self._images: dict[str, Image] = {}
        self._keys: dict[str, ApiKey] = {}
        self._sessions: dict[str, DashboardSession] = {}
        self._tallies: dict[str, ImageTally] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def add_image(self, image: Image) -> Image:
        with self._lock:
            existing = self._by_sha256(image.owner, image.sha256)
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

    def find_by_sha256(self, owner: str, sha256: str) -> Image | None:
        with self._lock:
            return self._by_sha256(owner, sha256)

    def save_image(self, image: Image) -> None:
        with self._lock:
            if image.image_id not in self._images:
                raise NotFound(f"no image {image.image_id}")
            other = self._by_sha256(image.owner, image.sha256)
            if other is not None and other.image_id != image.image_id:
                raise Conflict(f"another image of {image.owner!r} has sha256 {image.sha256}")
            self._images[image.image_id] = _copy(image)

    def delete_image(self, image_id: str) -> None:
        with self._lock:
            if self._images.pop(image_id, None) is None:
                raise NotFound(f"no image {image_id}")

    def list_images(
        self, limit: int, cursor: str | None, owner: str | None = None
    ) -> tuple[list[Image], str | None]:
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        after = _after(cursor) if cursor else None
        with self._lock:
            mine = [i for i in self._images.values() if owner is None or i.owner == owner]
            ordered = sorted(mine, key=_newest_first, reverse=True)
        if after is not None:
            ordered = [i for i in ordered if _newest_first(i) < after]
        page = [_copy(i) for i in ordered[:limit]]
        more = len(ordered) > limit
        if not more:
            return page, None
        created_at, image_id = _newest_first(page[-1])
        return page, encode_cursor(created_at.isoformat(), image_id)

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

    def revoke_key(self, key_id: str) -> ApiKey:
        with self._lock:
            if key_id not in self._keys:
                raise NotFound(f"no API key {key_id}")
            self._keys[key_id] = dataclasses.replace(self._keys[key_id], revoked=True)
            return self._keys[key_id]

    def add_session(self, session: DashboardSession) -> None:
        with self._lock:
            if session.session_hash in self._sessions:
                raise Conflict("that session already exists")
            self._sessions[session.session_hash] = session

    def find_session(self, session_hash: str) -> DashboardSession | None:
        with self._lock:
            return self._sessions.get(session_hash)

    def delete_sessions(
        self, *, session_hash: str | None = None, key_hash: str | None = None
    ) -> int:
        with self._lock:
            doomed = [
                s.session_hash
                for s in self._sessions.values()
                if s.session_hash == session_hash or s.key_hash == key_hash
            ]
            for name in doomed:
                del self._sessions[name]
            return len(doomed)

    def close(self) -> None:
        pass

    def _transaction(self) -> AbstractContextManager[object]:
        return self._lock

    def _claim_new_keys(self, _: object, batch: list[RequestRecord]) -> list[RequestRecord]:
        new = [r for r in batch if r.key not in self._seen]
        self._seen.update(r.key for r in new)
        return new

    def _apply(self, _: object, tallies: list[ImageTally]) -> None:
        for tally in tallies:  # fresh objects, ours to keep
            old = self._tallies.get(tally.image_id)
            if old is None:
                self._tallies[tally.image_id] = tally
            else:
                old.add(tally)

    def _read_stats(self, image_id: str) -> ImageStats | None:
        with self._lock:
            tally = self._tallies.get(image_id)
            return None if tally is None else tally.stats()

    def _by_sha256(self, owner: str, sha256: str) -> Image | None:
        images = self._images.values()
        found = next((i for i in images if i.sha256 == sha256 and i.owner == owner), None)
        return None if found is None else _copy(found)

    def _find_key(self, key_hash: str) -> ApiKey | None:
        return next((k for k in self._keys.values() if k.key_hash == key_hash), None)


def _utc(at: datetime) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def _copy(image: Image) -> Image:
    """A private copy, in UTC like every other catalog returns."""
    return dataclasses.replace(
        image, created_at=_utc(image.created_at), thumbnails=dict(image.thumbnails)
    )


def _newest_first(image: Image) -> tuple[datetime, str]:
    return _utc(image.created_at), image.image_id


def _after(cursor: str) -> tuple[datetime, str]:
    created_at, image_id = decode_cursor(cursor)
    return _utc(created_at), image_id
