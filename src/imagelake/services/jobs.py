"""The thumbnail job consumer: one claimed job at a time, bounded retries."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from imagelake import metrics
from imagelake.domain.errors import ImagelakeError
from imagelake.domain.images import Image, ImageStatus
from imagelake.ports import Message, Queue
from imagelake.services.retry import retry_or_dead_letter
from imagelake.services.thumbnails import MadeThumbnails, ThumbnailService

log = logging.getLogger(__name__)


class ThumbnailJobConsumer:
    def __init__(
        self,
        *,
        jobs: Queue,
        service: ThumbnailService,
        max_receives: int,
        base_delay: float,
        visibility_timeout: float,
    ) -> None:
        self._jobs = jobs
        self._service = service
        self._max_receives = max_receives
        self._base_delay = base_delay
        self._visibility_timeout = visibility_timeout

    def run_once(self, wait: float = 0.5) -> int:
        """Handle at most one job; return how many were handled."""
        messages = self._jobs.receive(1, self._visibility_timeout, wait=wait)
        for message in messages:
            self.handle(message)
        return len(messages)

    @contextmanager
    def overlapped(self) -> Iterator[Callable[[], int]]:
        """A run_once for the worker loop that stores one job while it decodes the next.

        Storing and recording a job mostly waits on fsyncs; on a background thread
        that wait overlaps the next job's decode instead of idling the core. At most one job
        is being stored at a time, and the last one is finished before this returns. A store
        that raises (its backend failing even to retry the job) raises from the next call,
        once; the job decoded meanwhile is stored all the same.
        """
        with ThreadPoolExecutor(1, thread_name_prefix="thumbnail-store") as storing:
            previous: list[Future[bool]] = []

            def run_once() -> int:
                messages = self._jobs.receive(1, self._visibility_timeout)
                for message in messages:
                    finish = self.begin(message)
                    # Queued behind the one before (one thread), then that one waited for.
                    earlier, previous[:] = previous[:], [storing.submit(finish)]
                    for done in earlier:
                        done.result()
                return len(messages)

            yield run_once

    def handle(self, message: Message) -> bool:
        """Make one job's thumbnails; False when it is not done: dead-lettered, or coming back."""
        return self.begin(message)()

    def begin(self, message: Message) -> Callable[[], bool]:
        """The CPU-bound part of handle(): vet the job, decode and encode its thumbnails.

        The call returned does the rest (store, record, ack) and answers as handle() does.
        """
        try:
            image_id = str(json.loads(message.body)["image_id"])
        except (ValueError, KeyError, TypeError):
            self._jobs.dead_letter(message, "malformed thumbnail job: expected {'image_id': ...}")
            return _not_done
        if message.receive_count > self._max_receives:
            # Every earlier delivery died with its worker (a decoder crash on this very file,
            # say): handling it again would only take down the next worker too.
            reason = f"gave up after {message.receive_count - 1} deliveries that never finished"
            metrics.FAILURES.labels("thumbnail").inc()
            self._jobs.dead_letter(message, reason)
            self._service.fail(image_id, reason)
            return _not_done
        started = time.perf_counter()
        try:
            made = self._service.make(image_id)
        except Exception as exc:  # whatever it is, retry with backoff, then fail the image
            self._failed(message, image_id, exc)
            return _not_done

        def finish() -> bool:
            try:
                image = self._service.store(made) if isinstance(made, MadeThumbnails) else made
            except Exception as exc:
                self._failed(message, image_id, exc)
                return False
            self._done(message, image, started)
            return True

        return finish

    def _done(self, message: Message, image: Image | None, started: float) -> None:
        if image is not None and image.status == ImageStatus.READY:
            metrics.THUMBNAILS.inc(len(image.thumbnails))
            metrics.PROCESSING_SECONDS.observe(time.perf_counter() - started)
        elif image is not None and image.status == ImageStatus.FAILED:
            metrics.FAILURES.labels("thumbnail").inc()  # a permanent failure: no retry
        self._jobs.ack([message])

    def _failed(self, message: Message, image_id: str, exc: Exception) -> None:
        metrics.FAILURES.labels("thumbnail").inc()
        reason = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ImagelakeError | OSError):
            log.warning("thumbnail job for %s failed: %s", image_id, reason)
        else:
            log.exception("thumbnail job for %s failed unexpectedly", image_id, exc_info=exc)
        if retry_or_dead_letter(self._jobs, message, reason, self._max_receives, self._base_delay):
            self._service.fail(image_id, f"{reason} (after {message.receive_count} attempts)")


def _not_done() -> bool:
    return False
