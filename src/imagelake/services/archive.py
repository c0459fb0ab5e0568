"""The raw event lake: every payload as received, one JSONL line each, in Hive partitions.

A line holds the idempotency key, the receive time, the parsed contract fields (so the
lake is queryable by field) and `raw`: the payload's UTF-8 text, from which its exact
bytes come back (`line["raw"].encode()`), pretty-printed or not.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from imagelake.domain.events import (
    ImageEvent,
    decode_payload,
    idempotency_key,
    validate_event,
)
from imagelake.ports import BlobStore, Message

RAW_PREFIX = "events/raw"
CONTENT_TYPE = "application/x-ndjson"
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode  # ASCII-only: no U+2028 line breaks


@dataclass(frozen=True)
class Received:
    """A queued message that passed validation."""

    message: Message
    event: ImageEvent
    key: str  # idempotency key
    text: str  # the payload's text, exactly as received


def receive(message: Message) -> Received:
    """Decode and validate one message; InvalidEvent (with the reason) if it breaks the contract."""
    text, payload = decode_payload(message.body)
    event = validate_event(payload)
    return Received(message, event, idempotency_key(message.body, event.event_id), text)


def archive_line(item: Received, received_at: str) -> str:
    e = item.event
    return _ENCODE(
        {
            "key": item.key,
            "received_at": received_at,
            "event_name": str(e.event_name),
            "user_id": e.user_id,
            "image_id": e.image_id,
            "timestamp": e.timestamp.isoformat(),
            "event_id": e.event_id,
            "raw": item.text,
        }
    )


def original_bytes(line: str | bytes) -> bytes:
    """The payload's bytes, exactly as they arrived, from one archive line."""
    raw: str = json.loads(line)["raw"]
    return raw.encode("utf-8")


class EventArchiver:
    """Step one of the monitor: one object per partition per batch."""

    def __init__(self, archive: BlobStore) -> None:
        self._archive = archive

    def archive(self, items: Sequence[Received]) -> list[str]:
        received_at = datetime.now(UTC).isoformat()
        batch = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        groups: dict[str, list[str]] = defaultdict(list)
        for item in items:
            groups[item.event.partition].append(archive_line(item, received_at))
        keys = []
        for partition, lines in sorted(groups.items()):
            key = f"{RAW_PREFIX}/{partition}/{batch}.jsonl"
            lines.append("")
            self._archive.put(key, "\n".join(lines).encode("ascii"), CONTENT_TYPE)
            keys.append(key)
        return keys
