"""A Queue that wakes someone whenever it was sent work: `imagelake serve` wakes its idle
workers with it, instead of leaving a new job waiting for their next poll."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from imagelake.ports import DeadLetter, Message, Queue


class WakingQueue:
    """Every call goes to `inner`; after each send (or replay) that queued something, `sent()`."""

    def __init__(self, inner: Queue, sent: Callable[[], None]) -> None:
        self.name = inner.name
        self.inner = inner
        self._sent = sent

    def send(self, bodies: Sequence[bytes]) -> None:
        self.inner.send(bodies)
        if bodies:
            self._sent()

    def receive(
        self, max_messages: int, visibility_timeout: float, wait: float = 0
    ) -> list[Message]:
        return self.inner.receive(max_messages, visibility_timeout, wait)

    def ack(self, messages: Sequence[Message]) -> None:
        self.inner.ack(messages)

    def retry(self, message: Message, delay: float) -> None:
        self.inner.retry(message, delay)

    def dead_letter(self, message: Message, reason: str) -> None:
        self.inner.dead_letter(message, reason)

    def depth(self) -> int:
        return self.inner.depth()

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return self.inner.dead_letters(limit)

    def replay(self, dead_letter_id: str | None = None) -> int:
        replayed = self.inner.replay(dead_letter_id)
        if replayed:
            self._sent()
        return replayed

    def purge_dead_letters(self) -> int:
        return self.inner.purge_dead_letters()

    def close(self) -> None:
        self.inner.close()
