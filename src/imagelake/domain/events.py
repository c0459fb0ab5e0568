"""The observer's event contract: parse, validate, key for idempotency and for the lake."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from imagelake.domain.errors import InvalidEvent


class EventName(StrEnum):
    IMAGE_REQUESTED = "IMAGE_REQUESTED"
    IMAGE_UPLOADED = "IMAGE_UPLOADED"
    THUMBNAIL_CREATED = "THUMBNAIL_CREATED"
    IMAGE_DELETED = "IMAGE_DELETED"


MAX_ID_LENGTH = 256


@dataclass(frozen=True)
class ImageEvent:
    event_name: EventName
    user_id: str
    image_id: str
    timestamp: datetime  # always UTC
    event_id: str | None
    fields: dict[str, Any]  # the whole parsed payload, extra fields included

    @property
    def partition(self) -> str:
        """Hive-style prefix of the raw archive object this event belongs in."""
        ts = self.timestamp
        return f"event_name={self.event_name}/dt={ts:%Y-%m-%d}/hour={ts:%H}"


def idempotency_key(raw: bytes, event_id: str | None) -> str:
    if event_id:
        return f"id:{event_id}"
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"'{name}' is required and must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(f"'{name}' is longer than {MAX_ID_LENGTH} characters")
    return value


def parse_timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidEvent("'timestamp' is required and must be an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEvent(f"'timestamp' is not ISO 8601: {value[:64]!r}") from None
    if ts.tzinfo is None:
        raise InvalidEvent("'timestamp' needs a time zone offset, e.g. +00:00")
    return ts.astimezone(UTC)


def validate_event(payload: object) -> ImageEvent:
    """Check one decoded payload against the contract; raise InvalidEvent naming the fault."""
    if not isinstance(payload, dict):
        raise InvalidEvent("an event must be a JSON object")
    name = payload.get("event_name")
    if not isinstance(name, str) or name not in EventName.__members__:
        known = ", ".join(EventName)
        raise InvalidEvent(f"unknown event_name {str(name)[:64]!r}; known: {known}")
    event_id = payload.get("event_id")
    if event_id is not None:
        event_id = _text(payload, "event_id")
    return ImageEvent(
        event_name=EventName(name),
        user_id=_text(payload, "user_id"),
        image_id=_text(payload, "image_id"),
        timestamp=parse_timestamp(payload.get("timestamp")),
        event_id=event_id,
        fields=payload,
    )


def parse_event(raw: bytes) -> ImageEvent:
    """Decode and validate one raw payload exactly as it arrived on the queue."""
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    return validate_event(payload)


def build_event(name: EventName, user_id: str, image_id: str, at: datetime, **extra: Any) -> bytes:
    """Serialise an event the service emits itself."""
    payload = {
        "event_name": str(name),
        "user_id": user_id,
        "image_id": image_id,
        "timestamp": at.astimezone(UTC).isoformat(),
        **extra,
    }
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass(frozen=True)
class RequestRecord:
    """One IMAGE_REQUESTED event as the catalog counts it."""

    key: str  # idempotency key
    image_id: str
    user_id: str
    timestamp: datetime


@dataclass(frozen=True)
class ImageStats:
    image_id: str
    request_count: int
    unique_users: int
    first_requested_at: datetime
    last_requested_at: datetime
    last_user_id: str
