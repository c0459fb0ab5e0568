"""The ports: what the services need from the outside world. Adapters implement these."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

from imagelake.domain.events import ImageStats, RequestRecord
from imagelake.domain.images import (
    ApiKey,
    DashboardSession,
    Image,
    ImageInfo,
    ImageStatus,
    ThumbnailSpec,
)
from imagelake.domain.signing import Signer
from imagelake.domain.variants import Render

T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class BackendSpec:
    """What a registry's factory is given: the backend's URL and what the composition root
    shares with every backend (how to sign a URL, a queue's name, ...)."""

    url: str
    base_url: str = ""
    signer: Signer | None = None
    name: str = ""  # a queue's name, when several queues share one URL
    max_pixels: int = 0  # an image engine's decode limit
    engine_threads: int | None = None  # an image engine's threads per operation (None: its own)
    max_receives: int = 5  # deliveries before a dead letter (provisioned redrive policies)
    public_origin: str = "*"  # the origin browsers upload from (provisioned CORS rules)


class Factory(Protocol[T_co]):
    """A registry entry: builds one backend from its spec."""

    def __call__(self, spec: BackendSpec) -> T_co: ...


@dataclass(frozen=True)
class BlobMeta:
    key: str
    size: int
    content_type: str
    etag: str
    modified: datetime


class BlobStore(Protocol):
    """Object storage: keys are '/'-separated relative paths; no '..', no leading '/'."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """put() of a local file's bytes, streamed: a large file never sits in memory.

        The file must not be written to afterwards (a local store may keep it as the blob's
        own file); deleting or renaming it is fine.
        """
        ...

    def get(self, key: str) -> bytes: ...  # NotFound

    def head(self, key: str) -> BlobMeta: ...  # NotFound

    def delete(self, key: str) -> None: ...  # silent when absent

    def list(self, prefix: str) -> Iterator[str]: ...  # keys under prefix, sorted

    def signed_url(self, key: str, ttl: int) -> str: ...

    def local_path(self, key: str) -> Path | None:
        """The object's own file, for a store that keeps objects as plain local files, so a
        reader (the lake's engine) can read it in place; None for every other store."""
        ...


@runtime_checkable
class DirectUploadStore(Protocol):
    """A store clients can upload into without passing the bytes through us (S3)."""

    def presigned_post(
        self, key: str, content_type: str, max_bytes: int, ttl: int
    ) -> dict[str, Any]: ...  # {"url": ..., "fields": {...}}


class ImageCatalog(Protocol):
    def add_image(self, image: Image) -> Image:
        """Insert unless the same owner has an image with the same sha256; return the stored one."""
        ...

    def get_image(self, image_id: str) -> Image: ...  # NotFound

    def find_by_sha256(self, owner: str, sha256: str) -> Image | None: ...

    def save_image(self, image: Image) -> None: ...  # NotFound when deleted meanwhile

    def delete_image(self, image_id: str) -> None: ...  # NotFound

    def list_images(
        self, limit: int, cursor: str | None, owner: str | None = None
    ) -> tuple[list[Image], str | None]:
        """Newest first (only owner's, when given); the page and the next page's cursor."""
        ...

    def images_with_status(self, status: ImageStatus, limit: int) -> list[Image]: ...


class KeyCatalog(Protocol):
    def add_key(self, key: ApiKey) -> None: ...

    def find_key(self, key_hash: str) -> ApiKey | None: ...

    def list_keys(self) -> list[ApiKey]: ...

    def revoke_key(self, key_id: str) -> ApiKey: ...  # NotFound; the key as it now is

    def add_session(self, session: DashboardSession) -> None: ...

    def find_session(self, session_hash: str) -> DashboardSession | None: ...

    def delete_sessions(
        self, *, session_hash: str | None = None, key_hash: str | None = None
    ) -> int:
        """Delete one session, or every session opened with one key; return how many."""
        ...


class StatsCatalog(Protocol):
    def record_requests(self, records: Sequence[RequestRecord]) -> int:
        """Count each record once per idempotency key, ever; return how many were new."""
        ...

    def get_stats(self, image_id: str) -> ImageStats: ...  # NotFound


class Catalog(ImageCatalog, KeyCatalog, StatsCatalog, Protocol):
    def close(self) -> None: ...


class Message(NamedTuple):  # a tuple: a consumer receives thousands a second
    message_id: str
    body: bytes
    receipt: str
    receive_count: int  # 1 on the first delivery
    sent_at: float


@dataclass(frozen=True)
class DeadLetter:
    dead_letter_id: str
    body: bytes
    reason: str
    attempts: int
    sent_at: float
    dead_at: float


class Queue(Protocol):
    """A durable at-least-once queue with a dead-letter store beside it."""

    name: str

    def send(self, bodies: Sequence[bytes]) -> None: ...  # durable when it returns

    def receive(
        self, max_messages: int, visibility_timeout: float, wait: float = 0
    ) -> list[Message]:
        """Claim up to max_messages; unacked ones come back after visibility_timeout seconds."""
        ...

    def ack(self, messages: Sequence[Message]) -> None: ...

    def retry(self, message: Message, delay: float) -> None: ...  # visible again after delay

    def dead_letter(self, message: Message, reason: str) -> None: ...

    def depth(self) -> int: ...  # messages waiting or in flight

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    def replay(self, dead_letter_id: str | None = None) -> int:
        """Put one dead letter (or all, for None) back on the queue; return how many."""
        ...

    def purge_dead_letters(self) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Notification:
    subject: str
    message: str
    kind: str = "failure"  # failure | info
    data: dict[str, Any] = field(default_factory=dict)
    recipient: str | None = None  # an e-mail address, where the channel can use one


class Notifier(Protocol):
    def notify(self, notification: Notification) -> None: ...


@dataclass(frozen=True)
class Rendered:
    data: bytes
    content_type: str  # JPEG's fallback to PNG (Render.png_if_alpha) shows here
    frames: int = 1


class ImageEngine(Protocol):
    def probe(self, data: bytes) -> ImageInfo:
        """Read the header only (no pixel decode); CorruptImage/UnsupportedMediaType on failure."""
        ...

    def thumbnails(self, data: bytes, spec: ThumbnailSpec) -> dict[int, bytes]:
        """All sizes from one decode; long side == size, never upscaled. CorruptImage on failure."""
        ...

    def render(self, data: bytes, render: Render) -> Rendered:
        """One variant of an original (domain/variants.py says what each setting means).
        CorruptImage when the bytes cannot be decoded, ImageTooLarge for a bomb."""
        ...


class LakeConnection(Protocol):
    """One session of the lake's SQL engine, used by one thread at a time."""

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run sql with named $parameters; its rows. BackendError when the engine fails."""
        ...

    def close(self) -> None: ...


class LakeEngine(Protocol):
    """The SQL engine the lake's compaction and queries run on (DuckDB's dialect)."""

    def connect(self, threads: int | None = None) -> LakeConnection:
        """A fresh in-memory session with `threads` worker threads (None: the engine's default)."""
        ...

    def fingerprint_probe(self) -> int:
        """The engine's hash of a fixed string: equal probes mean equal id fingerprints."""
        ...
