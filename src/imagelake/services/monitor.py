"""The image monitor: archive every raw event into the lake, then count requests in the catalog."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from imagelake import metrics
from imagelake.domain.errors import ImagelakeError, InvalidEvent
from imagelake.domain.events import (
    EventName,
    ImageEvent,
    RequestRecord,
    idempotency_key,
    parse_event,
)
from imagelake.ports import BlobStore, Message, Notification, Notifier, Queue, StatsCatalog
from imagelake.services.retry import retry_or_dead_letter

log = logging.getLogger(__name__)
T = TypeVar("T")
RAW_PREFIX = "events/raw"


@dataclass(frozen=True)
class Received:
    message: Message
    event: ImageEvent
    key: str


def archive_line(item: Received, received_at: str) -> str:
    """One JSONL line: the raw text (original bytes recoverable) beside the parsed fields."""
    e = item.event
    return json.dumps(
        {
            "key": item.key,
            "received_at": received_at,
            "event_name": str(e.event_name),
            "user_id": e.user_id,
            "image_id": e.image_id,
            "timestamp": e.timestamp.isoformat(),
            "raw": item.message.body.decode("utf-8"),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def with_retries(step: Callable[[], T], attempts: int, base_delay: float) -> T:
    for attempt in range(attempts):
        try:
            return step()
        except ImagelakeError:
            if attempt == attempts - 1:
                raise
            time.sleep(base_delay * 2**attempt)
    raise AssertionError("unreachable")


class EventArchiver:
    """Step one: every payload exactly as received, in Hive-style partitions."""

    def __init__(self, archive: BlobStore) -> None:
        self._archive = archive

    def archive(self, items: Sequence[Received]) -> list[str]:
        received_at = datetime.now(UTC).isoformat()
        batch = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        groups: dict[str, list[str]] = defaultdict(list)
        for item in items:
            groups[item.event.partition].append(archive_line(item, received_at))
        keys = []
        for partition, lines in sorted(groups.items()):
            key = f"{RAW_PREFIX}/{partition}/{batch}.jsonl"
            data = ("\n".join(lines) + "\n").encode()
            self._archive.put(key, data, "application/x-ndjson")
            keys.append(key)
        return keys


class StatsStore:
    """Step two: request counts per image, once per idempotency key."""

    def __init__(self, catalog: StatsCatalog) -> None:
        self._catalog = catalog

    def store(self, items: Sequence[Received]) -> int:
        records = [
            RequestRecord(i.key, i.event.image_id, i.event.user_id, i.event.timestamp)
            for i in items
            if i.event.event_name == EventName.IMAGE_REQUESTED
        ]
        return self._catalog.record_requests(records) if records else 0


class EventConsumer:
    def __init__(
        self,
        events: Queue,
        archiver: EventArchiver,
        stats: StatsStore,
        notifier: Notifier,
        batch_size: int,
        max_receives: int,
        base_delay: float,
        visibility_timeout: float,
        step_attempts: int = 3,
    ) -> None:
        self._events = events
        self._archiver = archiver
        self._stats = stats
        self._notifier = notifier
        self._batch_size = batch_size
        self._max_receives = max_receives
        self._base_delay = base_delay
        self._visibility_timeout = visibility_timeout
        self._step_attempts = step_attempts

    def run_once(self, wait: float = 0) -> int:
        messages = self._events.receive(self._batch_size, self._visibility_timeout, wait=wait)
        if messages:
            self.handle(messages)
        return len(messages)

    def handle(self, messages: Sequence[Message]) -> None:
        """Archive and count a batch; a bad message never fails its batch-mates."""
        valid: list[Received] = []
        for message in messages:
            try:
                event = parse_event(message.body)
            except InvalidEvent as exc:
                self._dead_letter(message, f"invalid event: {exc}")
                continue
            valid.append(Received(message, event, idempotency_key(message.body, event.event_id)))
        if not valid:
            return
        try:
            with_retries(lambda: self._archiver.archive(valid), self._step_attempts, 0.05)
            with_retries(lambda: self._stats.store(valid), self._step_attempts, 0.05)
        except ImagelakeError as exc:
            metrics.FAILURES.labels("event").inc(len(valid))
            log.warning("event batch of %d failed: %s", len(valid), exc)
            for item in valid:
                reason = f"{type(exc).__name__}: {exc}"
                if retry_or_dead_letter(
                    self._events, item.message, reason, self._max_receives, self._base_delay
                ):
                    self._alert(item.message, reason)
            return
        self._events.ack([item.message for item in valid])
        metrics.EVENTS_CONSUMED.inc(len(valid))

    def _dead_letter(self, message: Message, reason: str) -> None:
        self._events.dead_letter(message, reason)
        self._alert(message, reason)

    def _alert(self, message: Message, reason: str) -> None:
        metrics.DEAD_LETTERS.labels(self._events.name).inc()
        preview = message.body[:200].decode("utf-8", "replace")
        try:
            self._notifier.notify(
                Notification(
                    subject=f"imagelake: event dead-lettered on {self._events.name}",
                    message=reason,
                    data={"message_id": message.message_id, "reason": reason, "body": preview},
                )
            )
        except ImagelakeError:
            log.exception("dead-letter alert failed")
