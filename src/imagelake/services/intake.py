"""POST /events: validate a whole batch, then queue it durably, all or nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from imagelake import metrics
from imagelake.codecs.event_json import decode_text, json_items
from imagelake.domain.errors import Forbidden, InvalidEvent, InvalidInput, PayloadTooLarge
from imagelake.domain.events import EventLimits, validate_event
from imagelake.ports import Queue

MAX_BATCH = 1000
_ARRAY = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\n\r]*\[")  # a JSON array's start, BOM allowed


class EventIntake:
    def __init__(self, events: Queue, *, limits: EventLimits | None = None) -> None:
        self._events = events
        self._limits = limits or EventLimits()

    def accept(self, body: bytes, as_user: str | None = None) -> int:
        """Queue one event or an array of up to MAX_BATCH; raise naming every bad item.

        With as_user, every event must be that user's own (Forbidden naming the others).

        Each event is queued as the exact bytes the client sent for it, so its idempotency
        key (the sha256 of those bytes, without an event_id) is one the client can compute.
        An event over the size limit refuses the whole request (PayloadTooLarge).
        """
        if len(body) > self._limits.max_bytes and not _ARRAY.match(body):
            self._refuse_oversized([body])  # one event: refused before parsing it
        try:
            is_array, items = json_items(decode_text(body))
        except InvalidEvent as exc:
            raise InvalidInput(f"malformed JSON: {exc}") from None
        if is_array and not items:
            raise InvalidEvent("the array holds no events")
        if len(items) > MAX_BATCH:
            raise InvalidEvent(f"{len(items)} events in one request; the limit is {MAX_BATCH}")
        bodies = [source.encode() for _, source in items] if is_array else [body]
        self._refuse_oversized(bodies)
        bad: list[dict[str, object]] = []
        others: list[int] = []
        now = datetime.now(UTC)
        for index, (item, _) in enumerate(items):
            try:
                event = validate_event(item)
                self._limits.check_time(event, now)
            except InvalidEvent as exc:
                bad.append({"index": index, "reason": str(exc)})
                continue
            if as_user is not None and event.user_id != as_user:
                others.append(index)
        if bad:
            raise InvalidEvent(_refusal("invalid event(s)", bad), bad)
        if others:
            named = ", ".join(f"item {i}" for i in others[:10])
            raise Forbidden(
                f"this key may post events only as user {as_user!r}; {named} "
                f"name{'s' if len(others) == 1 else ''} another user: nothing queued"
            )
        self._events.send(bodies)
        metrics.EVENTS_ACCEPTED.inc(len(bodies))
        return len(bodies)

    def _refuse_oversized(self, bodies: list[bytes]) -> None:
        big: list[dict[str, object]] = []
        for index, data in enumerate(bodies):
            try:
                self._limits.check_size(len(data))
            except PayloadTooLarge as exc:
                big.append({"index": index, "bytes": len(data), "reason": str(exc)})
        if big:
            raise PayloadTooLarge(_refusal("event(s) too large", big), big)


def _refusal(what: str, bad: list[dict[str, object]]) -> str:
    summary = "; ".join(f"item {b['index']}: {b['reason']}" for b in bad[:10])
    return f"{len(bad)} {what}, nothing queued: {summary}"
