"""The image monitor: archive every raw event into the lake, then count requests in the catalog.

Partial failure: a message that breaks the contract (or was delivered too often) goes to
the dead-letter store at once; when a step fails, the batch is split until the failing
messages are isolated, so they alone are retried with backoff, then dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from imagelake import metrics
from imagelake.domain.errors import ImagelakeError, InvalidEvent, PayloadTooLarge
from imagelake.domain.events import EventLimits, EventName, RequestRecord
from imagelake.lake.archive import EventArchiver, Received, receive
from imagelake.ports import Message, Notification, Notifier, Queue, StatsCatalog
from imagelake.services.retry import backoff_delay, retry_or_dead_letter

log = logging.getLogger(__name__)
T = TypeVar("T")
Step = Callable[[Sequence[Received]], object]
ALERT_ITEMS = 20  # dead letters listed in one alert


def with_retries(step: Callable[[], T], attempts: int, base_delay: float) -> T:
    """Run a step, retrying our own (transient) errors with backoff; anything else at once."""
    for attempt in range(1, attempts):
        try:
            return step()
        except ImagelakeError as exc:
            log.info("step failed (attempt %d of %d): %s", attempt, attempts, exc)
            time.sleep(backoff_delay(attempt, base_delay))
    return step()


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
        *,
        events: Queue,
        archiver: EventArchiver,
        stats: StatsStore,
        notifier: Notifier,
        batch_size: int,
        max_receives: int,
        base_delay: float,
        visibility_timeout: float,
        step_attempts: int = 3,
        step_delay: float = 0.05,
        limits: EventLimits | None = None,
    ) -> None:
        self._events = events
        self._limits = limits or EventLimits()
        self._archiver = archiver
        self._stats = stats
        self._notifier = notifier
        self._batch_size = batch_size
        self._max_receives = max_receives
        self._base_delay = base_delay
        self._visibility_timeout = visibility_timeout
        self._step_attempts = step_attempts
        self._step_delay = step_delay

    def run_once(self, wait: float = 0) -> int:
        messages = self._events.receive(self._batch_size, self._visibility_timeout, wait=wait)
        if messages:
            self.handle(messages)
        return len(messages)

    def handle(self, messages: Sequence[Message]) -> list[Message]:
        """Archive and count a batch; a bad message never fails its batch-mates.

        Returns the messages left unfinished: dead-lettered, or due again after a backoff.
        """
        return self._run(messages, [self._archiver.archive, self._stats.store], ack=True)

    def archive_step(self, messages: Sequence[Message]) -> tuple[list[Message], list[Message]]:
        """Archive only (a Step Functions state): (the archived messages, the unfinished)."""
        return _split(messages, self._run(messages, [self._archiver.archive], ack=False))

    def store_step(self, messages: Sequence[Message]) -> tuple[list[Message], list[Message]]:
        """Count messages archive_step archived, then ack them: (stored, unfinished)."""
        return _split(messages, self._run(messages, [self._stats.store], ack=True))

    def _run(self, messages: Sequence[Message], steps: list[Step], ack: bool) -> list[Message]:
        dead: list[tuple[Message, str]] = []
        valid: list[Received] = []
        now = datetime.now(UTC)
        for message in messages:
            if message.receive_count > self._max_receives:
                reason = f"poison: delivered {message.receive_count} times without completing"
                dead.append((message, reason))
                continue
            try:
                self._limits.check_size(len(message.body))  # before decoding it
                item = receive(message)
                self._limits.check_time(item.event, now)
            except PayloadTooLarge as exc:
                dead.append((message, f"payload too large: {exc}"))
            except InvalidEvent as exc:
                dead.append((message, f"invalid event: {exc}"))
            else:
                valid.append(item)
        for message, reason in dead:
            self._events.dead_letter(message, reason)
        # Half the visibility timeout: isolating a failure must end before redelivery starts.
        deadline = time.monotonic() + self._visibility_timeout / 2
        done, failed = valid, []
        for step in steps:
            done, failed_now = self._apply(step, done, deadline)
            failed += failed_now
        if done and ack:
            self._events.ack([item.message for item in done])
            metrics.EVENTS_CONSUMED.inc(len(done))
        if failed:
            metrics.FAILURES.labels("event").inc(len(failed))
        for item, reason in failed:
            if retry_or_dead_letter(
                self._events, item.message, reason, self._max_receives, self._base_delay
            ):
                dead.append((item.message, reason))
        if dead:
            self._alert(dead)
        finished = {item.message.message_id for item in done}
        return [message for message in messages if message.message_id not in finished]

    def _apply(
        self, step: Step, items: Sequence[Received], deadline: float
    ) -> tuple[list[Received], list[tuple[Received, str]]]:
        """Run a step over the batch with retries; on failure, isolate the failing messages."""
        if not items:
            return [], []
        try:
            with_retries(lambda: step(items), self._step_attempts, self._step_delay)
        except Exception as exc:  # any failure of a step, ours or not, must not sink the batch
            if not isinstance(exc, ImagelakeError):
                log.error("event step failed unexpectedly", exc_info=exc)
            return self._isolate(step, items, exc, deadline)
        return list(items), []

    def _isolate(
        self, step: Step, items: Sequence[Received], exc: Exception, deadline: float
    ) -> tuple[list[Received], list[tuple[Received, str]]]:
        """Bisect a failed batch: the halves that succeed are done, the failing ones split."""
        if len(items) == 1 or time.monotonic() > deadline:
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("%d event(s) failed: %s", len(items), reason)
            return [], [(item, reason) for item in items]
        done: list[Received] = []
        failed: list[tuple[Received, str]] = []
        middle = len(items) // 2
        for half in (items[:middle], items[middle:]):
            try:
                step(half)
            except Exception as half_exc:
                more_done, more_failed = self._isolate(step, half, half_exc, deadline)
                done += more_done
                failed += more_failed
            else:
                done += half
        return done, failed

    def _alert(self, dead: Sequence[tuple[Message, str]]) -> None:
        metrics.DEAD_LETTERS.labels(self._events.name).inc(len(dead))
        listed = [
            {
                "message_id": message.message_id,
                "reason": reason,
                "body": message.body[:200].decode("utf-8", "replace"),
            }
            for message, reason in dead[:ALERT_ITEMS]
        ]
        more = f" (and {len(dead) - ALERT_ITEMS} more)" if len(dead) > ALERT_ITEMS else ""
        notification = Notification(
            subject=f"imagelake: {len(dead)} event(s) dead-lettered on {self._events.name}",
            message="; ".join(item["reason"] for item in listed[:3]) + more,
            data={"queue": self._events.name, "count": len(dead), "dead_letters": listed},
        )
        try:
            self._notifier.notify(notification)
        except ImagelakeError:  # an alert that cannot be sent must not stop the consumer
            log.exception("dead-letter alert failed")


def _split(
    messages: Sequence[Message], unfinished: list[Message]
) -> tuple[list[Message], list[Message]]:
    left = {message.message_id for message in unfinished}
    return [m for m in messages if m.message_id not in left], unfinished
