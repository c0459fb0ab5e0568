"""The producer side of the observer: every image request becomes an IMAGE_REQUESTED event.

A delivery is answered only once its event is durably queued. Deliveries that arrive while
one send is in flight are queued together by the next send (group commit): one transaction
for many requests, and still no answer before its event is stored.
"""

from __future__ import annotations

import asyncio

from imagelake.domain.events import EventName, build_event
from imagelake.domain.images import utcnow
from imagelake.ports import Queue

MAX_BATCH = 500


class RequestRecorder:
    def __init__(self, events: Queue) -> None:
        self._events = events
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop a flush runs on
        self._flusher: asyncio.Task[None] | None = None

    async def record_async(self, user_id: str, image_id: str, variant: str) -> None:
        """Durably enqueue one event, in a batch with the requests arriving meanwhile."""
        event = self._event(user_id, image_id, variant)
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:  # another loop flushes
            await asyncio.to_thread(self._events.send, [event])
            return
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((event, done))
        if self._loop is None:
            self._loop = loop
            self._flusher = loop.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    await asyncio.to_thread(self._events.send, [event for event, _ in batch])
                except Exception as exc:  # each waiting request answers with the failure
                    for _, done in batch:
                        if not done.done():  # not a request that was given up on
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._loop = None

    @staticmethod
    def _event(user_id: str, image_id: str, variant: str) -> bytes:
        return build_event(EventName.IMAGE_REQUESTED, user_id, image_id, utcnow(), variant=variant)
