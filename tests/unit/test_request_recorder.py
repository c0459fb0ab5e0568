"""Every delivery's event is queued before it is answered, many requests per transaction."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from imagelake.adapters.memory import MemoryQueue
from imagelake.domain.errors import BackendError
from imagelake.services.image_requests import RequestRecorder


class CountingQueue(MemoryQueue):
    def __init__(self, fail: bool = False) -> None:
        super().__init__("events")
        self.sends: list[int] = []
        self.fail = fail

    def send(self, bodies: Sequence[bytes]) -> None:
        self.sends.append(len(bodies))
        if self.fail:
            raise BackendError("queue down")
        super().send(bodies)


def test_concurrent_requests_share_sends_and_every_event_is_queued() -> None:
    queue = CountingQueue()
    recorder = RequestRecorder(queue)

    async def main() -> None:
        await asyncio.gather(*(recorder.record_async(f"u{i}", "i", "original") for i in range(50)))

    asyncio.run(main())

    assert sum(queue.sends) == 50
    assert len(queue.sends) < 50  # batched
    users = {json.loads(m.body)["user_id"] for m in queue.receive(100, 30)}
    assert users == {f"u{i}" for i in range(50)}


def test_a_failed_send_fails_every_request_waiting_on_it() -> None:
    recorder = RequestRecorder(CountingQueue(fail=True))

    async def main() -> list[BaseException | None]:
        calls = (recorder.record_async("u", "img", "original") for _ in range(5))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())

    assert all(isinstance(r, BackendError) for r in results)
    with pytest.raises(BackendError):  # and the next request tries again
        asyncio.run(recorder.record_async("u", "img", "original"))
