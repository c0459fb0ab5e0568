"""The observer's event contract: parse, validate, key for idempotency and for the lake."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from imagelake.domain.errors import InvalidEvent, PayloadTooLarge


class EventName(StrEnum):
    IMAGE_REQUESTED = "IMAGE_REQUESTED"
    IMAGE_UPLOADED = "IMAGE_UPLOADED"
    THUMBNAIL_CREATED = "THUMBNAIL_CREATED"
    IMAGE_DELETED = "IMAGE_DELETED"


_NAMES = {str(name): name for name in EventName}
MAX_ID_LENGTH = 256
# 'YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00' (a zero fraction left out): the text isoformat() gives
_ISOFORMAT_UTC = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.(?!000000)[0-9]{6})?\+00:00"
)


class ImageEvent(NamedTuple):
    """One valid event. Immutable; a tuple because the consumer makes one per message."""

    event_name: EventName
    user_id: str
    image_id: str
    timestamp: datetime  # always UTC
    event_id: str | None
    fields: dict[str, Any]  # the whole parsed payload, extra fields included

    @property
    def partition(self) -> str:
        """Hive-style prefix of the raw archive object this event belongs in."""
        return partition_of(self.event_name, self.timestamp.isoformat())


def utc_isoformat(event: ImageEvent) -> str:
    """event.timestamp.isoformat(); taken as sent when the payload already wrote it so."""
    given = event.fields.get("timestamp")
    if type(given) is str and _ISOFORMAT_UTC.fullmatch(given):
        return given
    return event.timestamp.isoformat()


def partition_of(event_name: str, utc_iso: str) -> str:
    """The partition of an event from its name and its UTC timestamp in ISO 8601.

    Only the first 13 characters of the timestamp count: 'YYYY-MM-DDTHH'.
    """
    return f"event_name={event_name}/dt={utc_iso[:10]}/hour={utc_iso[11:13]}"


def idempotency_key(raw: bytes, event_id: str | None) -> str:
    if event_id:
        return f"id:{event_id}"
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if type(value) is str and _plain_id(value):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"'{name}' is required and must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(f"'{name}' is longer than {MAX_ID_LENGTH} characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a \ud8xx escape: no store takes it
            raise InvalidEvent(f"'{name}' holds an unpaired surrogate escape") from None
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
    try:
        return ts.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before year 1 in UTC
        raise InvalidEvent(f"'timestamp' is out of range in UTC: {value[:64]!r}") from None


def validate_event(payload: object) -> ImageEvent:
    """Check one decoded payload against the contract; raise InvalidEvent naming the fault."""
    if not isinstance(payload, dict):
        raise InvalidEvent("an event must be a JSON object")
    get = payload.get
    given = get("event_name")
    name = _NAMES.get(given) if type(given) is str else None  # lists are not hashable
    if name is None:
        known = ", ".join(EventName)
        raise InvalidEvent(f"unknown event_name {str(given)[:64]!r}; known: {known}")
    # Plain ids (ASCII, not blank, not too long) pass inline: this runs for every event, twice.
    user_id = get("user_id")
    if not (
        type(user_id) is str
        and 0 < len(user_id) <= MAX_ID_LENGTH
        and user_id.isascii()
        and not user_id.isspace()
    ):
        user_id = _text(payload, "user_id")
    image_id = get("image_id")
    if not (
        type(image_id) is str
        and 0 < len(image_id) <= MAX_ID_LENGTH
        and image_id.isascii()
        and not image_id.isspace()
    ):
        image_id = _text(payload, "image_id")
    event_id = get("event_id")
    if event_id is not None and not (
        type(event_id) is str
        and 0 < len(event_id) <= MAX_ID_LENGTH
        and event_id.isascii()
        and not event_id.isspace()
    ):
        event_id = _text(payload, "event_id")
    return ImageEvent(name, user_id, image_id, _timestamp(get("timestamp")), event_id, payload)


def _timestamp(value: object) -> datetime:
    """parse_timestamp(value), sooner for what most events send: a UTC time with '+00:00'."""
    if type(value) is str and value.endswith("+00:00") and "Z" not in value:
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if at.tzinfo is UTC:  # what astimezone(UTC) would return, unchanged
                return at
    return parse_timestamp(value)


def _plain_id(value: str) -> bool:
    return 0 < len(value) <= MAX_ID_LENGTH and value.isascii() and not value.isspace()


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


MAX_EVENT_BYTES = 64 * 1024
MAX_EVENT_SKEW = 86_400  # seconds


@dataclass(frozen=True)
class EventLimits:
    """What the observer takes beyond the contract: one payload's size, how far ahead its time."""

    max_bytes: int = MAX_EVENT_BYTES
    max_skew: timedelta = timedelta(seconds=MAX_EVENT_SKEW)

    def check_size(self, size: int) -> None:
        """PayloadTooLarge when one payload of size bytes is over the limit."""
        if size > self.max_bytes:
            raise PayloadTooLarge(f"{size:,} bytes, over the {self.max_bytes:,}-byte limit")

    def check_time(self, event: ImageEvent, now: datetime) -> None:
        """InvalidEvent when the event's timestamp is further than max_skew ahead of now."""
        if event.timestamp - now > self.max_skew:
            seconds = f"{self.max_skew.total_seconds():,.0f}"
            raise InvalidEvent(
                f"'timestamp' {event.timestamp.isoformat()} is more than {seconds} s in the future"
            )


class RequestRecord(NamedTuple):
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
    first_requested_at: datetime | None
    last_requested_at: datetime | None
    last_user_id: str | None

    @classmethod
    def unrequested(cls, image_id: str) -> ImageStats:
        """The stats of an image nobody has requested yet."""
        return cls(image_id, 0, 0, None, None, None)
