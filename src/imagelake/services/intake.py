"""POST /events: validate a whole batch, then queue it durably, all or nothing."""

from __future__ import annotations

from imagelake import metrics
from imagelake.codecs.event_json import decode_text, json_items
from imagelake.domain.errors import Forbidden, InvalidEvent, InvalidInput
from imagelake.domain.events import validate_event
from imagelake.ports import Queue

MAX_BATCH = 1000


class EventIntake:
    def __init__(self, events: Queue) -> None:
        self._events = events

    def accept(self, body: bytes, as_user: str | None = None) -> int:
        """Queue one event or an array of up to MAX_BATCH; raise naming every bad item.

        With as_user, every event must be that user's own (Forbidden naming the others).

        Each event is queued as the exact bytes the client sent for it, so its idempotency
        key (the sha256 of those bytes, without an event_id) is one the client can compute.
        """
        try:
            is_array, items = json_items(decode_text(body))
        except InvalidEvent as exc:
            raise InvalidInput(f"malformed JSON: {exc}") from None
        if is_array and not items:
            raise InvalidEvent("the array holds no events")
        if len(items) > MAX_BATCH:
            raise InvalidEvent(f"{len(items)} events in one request; the limit is {MAX_BATCH}")
        bad: list[dict[str, object]] = []
        others: list[int] = []
        for index, (item, _) in enumerate(items):
            try:
                event = validate_event(item)
            except InvalidEvent as exc:
                bad.append({"index": index, "reason": str(exc)})
                continue
            if as_user is not None and event.user_id != as_user:
                others.append(index)
        if bad:
            summary = "; ".join(f"item {b['index']}: {b['reason']}" for b in bad[:10])
            raise InvalidEvent(f"{len(bad)} invalid event(s), nothing queued: {summary}", bad)
        if others:
            named = ", ".join(f"item {i}" for i in others[:10])
            raise Forbidden(
                f"this key may post events only as user {as_user!r}; {named} "
                f"name{'s' if len(others) == 1 else ''} another user: nothing queued"
            )
        bodies = [source.encode() for _, source in items] if is_array else [body]
        self._events.send(bodies)
        metrics.EVENTS_ACCEPTED.inc(len(bodies))
        return len(bodies)
