"""Prometheus metrics. Worker processes share them through PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

UPLOADS = Counter("imagelake_uploads_total", "Uploads accepted as new images")
DUPLICATES = Counter("imagelake_duplicate_uploads_total", "Uploads of bytes already stored")
REJECTED = Counter("imagelake_rejected_uploads_total", "Uploads refused", ["reason"])
THUMBNAILS = Counter("imagelake_thumbnails_total", "Thumbnails made")
FAILURES = Counter("imagelake_failures_total", "Failed jobs and messages", ["kind"])
EVENTS_ACCEPTED = Counter("imagelake_events_accepted_total", "Events queued")
EVENTS_CONSUMED = Counter("imagelake_events_consumed_total", "Events archived and counted")
DEAD_LETTERS = Counter("imagelake_dead_letters_total", "Messages dead-lettered", ["queue"])
PROCESSING_SECONDS = Histogram(
    "imagelake_thumbnail_seconds",
    "Time to make every thumbnail of one image",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class QueueDepthCollector(Collector):
    def __init__(self, depths: Callable[[], dict[str, int]]) -> None:
        self._depths = depths

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("imagelake_queue_depth", "Messages waiting", labels=["queue"])
        for name, depth in self._depths().items():
            gauge.add_metric([name], depth)
        yield gauge


def render(depths: Callable[[], dict[str, int]]) -> bytes:
    """The exposition text: this process's metrics (or all processes'), plus queue depths."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    depth_registry = CollectorRegistry()
    depth_registry.register(QueueDepthCollector(depths))
    return text + generate_latest(depth_registry)
