"""The raw event lake: every payload as received, one JSONL line each, in Hive partitions.

A line holds the idempotency key, the receive time, the parsed contract fields and the
request's variant (so the lake is queryable by field) and `raw`: the payload's UTF-8 text,
from which its exact bytes come back (`line["raw"].encode()`), pretty-printed or not.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import orjson

from imagelake.codecs.event_json import decode_payload
from imagelake.domain.events import (
    ImageEvent,
    idempotency_key,
    partition_of,
    utc_isoformat,
    validate_event,
)
from imagelake.ports import BlobStore, Message

RAW_PREFIX = "events/raw"
MAX_VARIANT = 256
CONTENT_TYPE = "application/x-ndjson"
_STR: Callable[[str], str] = json.encoder.encode_basestring_ascii


class Received(NamedTuple):
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


def archive_line(item: Received, received_at: str, utc_iso: str) -> bytes:
    """One JSON object on one line, ASCII only (so no U+2028 can split it)."""
    e = item.event
    line = orjson.dumps(
        {
            "key": item.key,
            "received_at": received_at,
            "event_name": e.event_name,  # a StrEnum: orjson writes its value
            "user_id": e.user_id,
            "image_id": e.image_id,
            "timestamp": utc_iso,
            "event_id": e.event_id,
            "variant": variant_of(e),
            "raw": item.text,
        }
    )
    if line.isascii() and 127 not in line:  # json escapes DEL, orjson does not
        return line  # the very bytes the slower ASCII encoder below writes
    return _ascii_line(item, received_at, utc_iso).encode("ascii")


def _ascii_line(item: Received, received_at: str, utc_iso: str) -> str:
    e = item.event
    return (
        f'{{"key":{_STR(item.key)},"received_at":{_STR(received_at)},'
        f'"event_name":"{e.event_name.value}","user_id":{_STR(e.user_id)},'
        f'"image_id":{_STR(e.image_id)},"timestamp":{_STR(utc_iso)},'
        f'"event_id":{"null" if e.event_id is None else _STR(e.event_id)},'
        f'"variant":{"null" if (v := variant_of(e)) is None else _STR(v)},'
        f'"raw":{_STR(item.text)}}}'
    )


def variant_of(event: ImageEvent) -> str | None:
    """The output a request was for, as a column of its own (the raw payload stays as sent):
    the payload's `variant`, or in events from before it existed their `size` ("128",
    "original"), whichever is first a non-empty string or a number; else None."""
    for name in ("variant", "size"):
        value = event.fields.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            continue
        text = str(value)
        if text:
            return text[:MAX_VARIANT]
    return None


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
        groups: dict[tuple[str, str], list[bytes]] = defaultdict(list)  # by name and hour
        for item in items:
            utc_iso = utc_isoformat(item.event)
            groups[item.event.event_name, utc_iso[:13]].append(
                archive_line(item, received_at, utc_iso)
            )
        keys = []
        for (event_name, hour), lines in sorted(groups.items()):
            key = f"{RAW_PREFIX}/{partition_of(event_name, hour)}/{batch}.jsonl"
            lines.append(b"")
            self._archive.put(key, b"\n".join(lines), CONTENT_TYPE)
            keys.append(key)
        return keys
