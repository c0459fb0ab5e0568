"""POST /events: validate a whole batch, then queue it durably, all or nothing."""

from __future__ import annotations

import json

from imagelake import metrics
from imagelake.domain.errors import InvalidEvent, InvalidInput
from imagelake.domain.events import validate_event
from imagelake.ports import Queue

MAX_BATCH = 1000


class EventIntake:
    def __init__(self, events: Queue) -> None:
        self._events = events

    def accept(self, body: bytes) -> int:
        """Queue one event or an array of up to MAX_BATCH; raise naming every bad item."""
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"malformed JSON: {exc}") from None
        if isinstance(payload, list):
            if not payload:
                raise InvalidEvent("the array holds no events")
            if len(payload) > MAX_BATCH:
                raise InvalidEvent(
                    f"{len(payload)} events in one request; the limit is {MAX_BATCH}"
                )
            items = payload
        else:
            items = [payload]
        bad: list[dict[str, object]] = []
        for index, item in enumerate(items):
            try:
                validate_event(item)
            except InvalidEvent as exc:
                bad.append({"index": index, "reason": str(exc)})
        if bad:
            summary = "; ".join(f"item {b['index']}: {b['reason']}" for b in bad[:10])
            raise InvalidEvent(f"{len(bad)} invalid event(s), nothing queued: {summary}", bad)
        # A single event keeps its bytes exactly as sent; array items are re-serialised compactly.
        bodies = (
            [body]
            if not isinstance(payload, list)
            else [
                json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
                for item in items
            ]
        )
        self._events.send(bodies)
        metrics.EVENTS_ACCEPTED.inc(len(bodies))
        return len(bodies)
