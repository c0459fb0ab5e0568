"""Operator work on the queues: depths, raw sends, dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from imagelake.ports import DeadLetter, Queue


class QueueName(StrEnum):
    events = "events"
    thumbnails = "thumbnails"


class QueueOperations:
    def __init__(self, *, events: Queue, jobs: Queue) -> None:
        self._queues = {QueueName.events: events, QueueName.thumbnails: jobs}

    def depths(self) -> dict[str, int]:
        return {str(name): queue.depth() for name, queue in self._queues.items()}

    def send_raw_events(self, bodies: Sequence[bytes]) -> None:
        """Payloads onto the event queue unvalidated, as a queue console would put them."""
        self._queues[QueueName.events].send(bodies)

    def dead_letters(self, queue: QueueName, limit: int) -> list[DeadLetter]:
        return self._queues[queue].dead_letters(limit)

    def replay(self, queue: QueueName, dead_letter_id: str | None) -> int:
        return self._queues[queue].replay(dead_letter_id)

    def purge(self, queue: QueueName) -> int:
        return self._queues[queue].purge_dead_letters()
