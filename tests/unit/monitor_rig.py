"""The image monitor over the in-memory adapters, with optional faulty wrappers around them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from imagelake.adapters.memory import MemoryBlobStore, MemoryCatalog, MemoryQueue, RecordingNotifier
from imagelake.domain.events import EventLimits
from imagelake.domain.signing import Signer
from imagelake.lake.archive import RAW_PREFIX, EventArchiver
from imagelake.ports import BlobStore, StatsCatalog
from imagelake.services.monitor import EventConsumer, StatsStore

IMAGE_ID = "b9f08c7f-089e-4cbf-ba78-a89a6e586e86"
# The documented payload, byte for byte as clients send it: pretty-printed.
DOCUMENTED = b"""{"event_name": "IMAGE_REQUESTED", "user_id": "42",
 "image_id": "b9f08c7f-089e-4cbf-ba78-a89a6e586e86",
 "timestamp": "2021-07-11T09:17:13+00:00"}"""
MAX_RECEIVES = 3


def event(
    user_id: str = "42",
    image_id: str = IMAGE_ID,
    timestamp: str = "2021-07-11T09:17:13+00:00",
    event_name: str = "IMAGE_REQUESTED",
    **extra: Any,
) -> bytes:
    payload = {"event_name": event_name, "user_id": user_id, "image_id": image_id}
    return json.dumps({**payload, "timestamp": timestamp, **extra}).encode()


@dataclass
class Rig:
    queue: MemoryQueue = field(default_factory=lambda: MemoryQueue("events"))
    blobs: MemoryBlobStore = field(
        default_factory=lambda: MemoryBlobStore("http://lake.test", Signer(b"k"))
    )
    catalog: MemoryCatalog = field(default_factory=MemoryCatalog)
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    archive_store: BlobStore | None = None  # a wrapper around blobs, when set
    stats_catalog: StatsCatalog | None = None  # a wrapper around catalog, when set
    batch_size: int = 100
    limits: EventLimits = field(default_factory=EventLimits)

    @property
    def consumer(self) -> EventConsumer:
        return EventConsumer(
            events=self.queue,
            archiver=EventArchiver(self.archive_store or self.blobs),
            stats=StatsStore(self.stats_catalog or self.catalog),
            notifier=self.notifier,
            batch_size=self.batch_size,
            max_receives=MAX_RECEIVES,
            base_delay=0,  # retried messages come straight back
            visibility_timeout=30,
            step_delay=0,
            limits=self.limits,
        )

    def send(self, *bodies: bytes) -> None:
        self.queue.send(list(bodies))

    def drain(self, limit: int = 50) -> int:
        """Consume until the queue is empty; return how many batches it took."""
        consumer = self.consumer
        for batches in range(limit):
            if not consumer.run_once():
                return batches
        raise AssertionError("the queue never drained")

    def archive_keys(self) -> list[str]:
        return list(self.blobs.list(RAW_PREFIX + "/"))

    def archive_lines(self) -> list[dict[str, Any]]:
        lines = []
        for key in self.archive_keys():
            text = self.blobs.get(key).decode("ascii")
            assert text.endswith("\n")
            lines += [json.loads(line) for line in text.splitlines()]
        return lines

    def count(self, image_id: str = IMAGE_ID) -> int:
        return self.catalog.get_stats(image_id).request_count
