"""The producer side of the observer: every image request becomes an IMAGE_REQUESTED event."""

from __future__ import annotations

from imagelake.domain.events import EventName, build_event
from imagelake.domain.images import utcnow
from imagelake.ports import Queue


class RequestRecorder:
    def __init__(self, events: Queue) -> None:
        self._events = events

    def record(self, user_id: str, image_id: str, size: str) -> None:
        """Durably enqueue the event; the download waits on nothing else."""
        event = build_event(EventName.IMAGE_REQUESTED, user_id, image_id, utcnow(), size=size)
        self._events.send([event])
