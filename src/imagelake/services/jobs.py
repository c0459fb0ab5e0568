"""The thumbnail job consumer: one claimed job at a time, bounded retries."""

from __future__ import annotations

import json
import logging
import time

from imagelake import metrics
from imagelake.domain.errors import ImagelakeError
from imagelake.ports import Message, Queue
from imagelake.services.retry import retry_or_dead_letter
from imagelake.services.thumbnails import ThumbnailService

log = logging.getLogger(__name__)


class ThumbnailJobConsumer:
    def __init__(
        self,
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
            self._handle(message)
        return len(messages)

    def _handle(self, message: Message) -> None:
        try:
            image_id = str(json.loads(message.body)["image_id"])
        except (ValueError, KeyError, TypeError):
            self._jobs.dead_letter(message, "malformed thumbnail job: expected {'image_id': ...}")
            return
        started = time.perf_counter()
        try:
            image = self._service.process(image_id)
        except (ImagelakeError, OSError) as exc:
            metrics.FAILURES.labels("thumbnail").inc()
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("thumbnail job for %s failed: %s", image_id, reason)
            if retry_or_dead_letter(
                self._jobs, message, reason, self._max_receives, self._base_delay
            ):
                self._service.fail(image_id, reason)
            return
        if image is not None and image.status == "ready":
            metrics.THUMBNAILS.inc(len(image.thumbnails))
            metrics.PROCESSING_SECONDS.observe(time.perf_counter() - started)
        self._jobs.ack([message])
