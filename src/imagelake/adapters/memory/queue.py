"""In-memory Queue: real, thread-safe, and used by unit tests."""

from __future__ import annotations

import dataclasses
import itertools
import secrets
import threading
import time
from collections.abc import Sequence

from imagelake.domain.errors import InvalidInput, NotFound
from imagelake.ports import DeadLetter, Message


@dataclasses.dataclass
class _Stored:
    message_id: str
    body: bytes
    sent_at: float
    visible_at: float
    receive_count: int = 0
    receipt: str = ""


class MemoryQueue:
    def __init__(self, name: str) -> None:
        self.name = name
        self._messages: dict[str, _Stored] = {}
        self._dead: dict[str, DeadLetter] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, bodies: Sequence[bytes]) -> None:
        now = time.time()
        with self._lock:
            for body in bodies:
                message_id = str(next(self._ids))
                self._messages[message_id] = _Stored(message_id, bytes(body), now, now)

    def receive(
        self, max_messages: int, visibility_timeout: float, wait: float = 0
    ) -> list[Message]:
        if max_messages < 1 or visibility_timeout < 0:
            raise InvalidInput("max_messages must be >= 1 and visibility_timeout >= 0")
        deadline = time.monotonic() + wait
        pause = 0.05
        while True:
            claimed = self._claim(max_messages, visibility_timeout)
            left = deadline - time.monotonic()
            if claimed or left <= 0:
                return claimed
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.2)

    def ack(self, messages: Sequence[Message]) -> None:
        with self._lock:
            for message in messages:
                if self._held(message):
                    del self._messages[message.message_id]

    def retry(self, message: Message, delay: float) -> None:
        if delay < 0:
            raise InvalidInput("delay must be >= 0")
        with self._lock:
            if self._held(message):
                self._messages[message.message_id].visible_at = time.time() + delay

    def dead_letter(self, message: Message, reason: str) -> None:
        with self._lock:
            if not self._held(message):
                return
            stored = self._messages.pop(message.message_id)
            dead_id = str(next(self._ids))
            self._dead[dead_id] = DeadLetter(
                dead_id, stored.body, reason, stored.receive_count, stored.sent_at, time.time()
            )

    def depth(self) -> int:
        with self._lock:
            return len(self._messages)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            ordered = sorted(
                self._dead.values(), key=lambda d: (d.dead_at, int(d.dead_letter_id)), reverse=True
            )
        return ordered[:limit]

    def replay(self, dead_letter_id: str | None = None) -> int:
        with self._lock:
            if dead_letter_id is not None and dead_letter_id not in self._dead:
                raise NotFound(f"no dead letter {dead_letter_id} in queue {self.name}")
            ids = sorted(self._dead, key=int) if dead_letter_id is None else [dead_letter_id]
            now = time.time()
            for dead_id in ids:
                message_id = str(next(self._ids))
                body = self._dead.pop(dead_id).body
                self._messages[message_id] = _Stored(message_id, body, now, now)
            return len(ids)

    def purge_dead_letters(self) -> int:
        with self._lock:
            count = len(self._dead)
            self._dead.clear()
            return count

    def close(self) -> None:
        pass

    def _claim(self, max_messages: int, visibility_timeout: float) -> list[Message]:
        with self._lock:
            now = time.time()
            visible = [m for m in self._messages.values() if m.visible_at <= now]
            visible.sort(key=lambda m: (m.visible_at, int(m.message_id)))
            for m in visible[:max_messages]:
                m.visible_at, m.receipt = now + visibility_timeout, secrets.token_hex(16)
                m.receive_count += 1
            return [
                Message(m.message_id, m.body, m.receipt, m.receive_count, m.sent_at)
                for m in visible[:max_messages]
            ]

    def _held(self, message: Message) -> bool:
        stored = self._messages.get(message.message_id)
        return stored is not None and stored.receipt == message.receipt
