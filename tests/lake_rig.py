"""Filling an event lake the way the monitor does, and what its numbers must then be."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from imagelake.domain.events import partition_of
from imagelake.lake.archive import RAW_PREFIX, EventArchiver, receive
from imagelake.ports import BlobStore, Message

_ids = count()
START = datetime(2021, 7, 10, 22, 0, tzinfo=UTC)
STEP = timedelta(minutes=7)


def payload(user: str, image: str, at: datetime, **extra: Any) -> bytes:
    body = {"event_name": "IMAGE_REQUESTED", "user_id": user, "image_id": image}
    return json.dumps({**body, "timestamp": at.isoformat(), **extra}).encode()


def archive(store: BlobStore, bodies: Sequence[bytes]) -> list[str]:
    """One batch through the real archiver, as the monitor writes it; the raw keys written."""
    messages = [Message(f"m{next(_ids)}", body, "r", 1, 0.0) for body in bodies]
    return EventArchiver(store).archive([receive(m) for m in messages])


@dataclass(frozen=True)
class Request:
    user: str
    image: str
    at: datetime

    @property
    def body(self) -> bytes:
        return payload(self.user, self.image, self.at)


def requests(
    n: int, start: datetime = START, step: timedelta = timedelta(minutes=7)
) -> list[Request]:
    """n distinct requests spread over a few UTC days, users and images deliberately uneven."""
    return [
        Request(f"user-{(i * 7) % 5}", f"image-{(i * i) % 9}", start + i * step) for i in range(n)
    ]


def by_day(reqs: Sequence[Request]) -> dict[str, tuple[int, int, int]]:
    """day -> (requests, unique users, unique images), computed straight from the requests."""
    days: dict[str, list[Request]] = {}
    for r in reqs:
        days.setdefault(r.at.date().isoformat(), []).append(r)
    return {
        day: (len(rs), len({r.user for r in rs}), len({r.image for r in rs}))
        for day, rs in sorted(days.items())
    }


def image_counts(reqs: Sequence[Request]) -> dict[str, tuple[int, int]]:
    """image -> (requests, unique users)."""
    hits = Counter(r.image for r in reqs)
    return {i: (n, len({r.user for r in reqs if r.image == i})) for i, n in hits.items()}


def user_counts(reqs: Sequence[Request]) -> dict[str, tuple[int, int]]:
    """user -> (requests, unique images)."""
    hits = Counter(r.user for r in reqs)
    return {u: (n, len({r.image for r in reqs if r.user == u})) for u, n in hits.items()}


def archived_line(user: str, image: str, at: datetime, **fields: Any) -> bytes:
    """One archive line as the monitor writes it, with any field replaced (for bad lines)."""
    body = payload(user, image, at)
    line = {
        "key": "sha256:" + hashlib.sha256(body).hexdigest(),
        "received_at": at.isoformat(),
        "event_name": "IMAGE_REQUESTED",
        "user_id": user,
        "image_id": image,
        "timestamp": at.isoformat(),
        "event_id": None,
        "raw": body.decode(),
    }
    return json.dumps({**line, **fields}).encode() + b"\n"


def put_raw_batch(
    store: BlobStore, at: datetime, data: bytes, name: str = "written-by-hand"
) -> str:
    """A raw batch written straight into the archive, in the partition of at; its key."""
    key = f"{RAW_PREFIX}/{partition_of('IMAGE_REQUESTED', at.isoformat())}/{name}.jsonl"
    store.put(key, data, "application/x-ndjson")
    return key
