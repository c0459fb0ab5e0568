"""Prometheus metrics. Worker processes share them through PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import logging
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

from imagelake.domain.errors import ImagelakeError

log = logging.getLogger(__name__)

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
VARIANTS_RENDERED = Counter(
    "imagelake_variants_rendered", "Variants rendered for delivery (cache misses)", ["format"]
)
VARIANT_CACHE_HITS = Counter(
    "imagelake_variant_cache_hits", "Deliveries answered from the variant cache"
)
RENDER_SECONDS = Histogram(
    "imagelake_variant_render_seconds",
    "Time to render one variant, decode to stored",
    ["format"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DELIVERIES = Counter("imagelake_deliveries", "Delivery links answered", ["method"])

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ScrapedGauges(Collector):
    """What is read at each scrape, from the backends every process shares."""

    def __init__(
        self, depths: Callable[[], dict[str, int]], quarantined: Callable[[], int] | None
    ) -> None:
        self._depths = depths
        self._quarantined = quarantined

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("imagelake_queue_depth", "Messages waiting", labels=["queue"])
        for name, depth in self._depths().items():
            gauge.add_metric([name], depth)
        yield gauge
        if self._quarantined is None:
            return
        try:
            count = self._quarantined()
        except ImagelakeError as exc:  # a lake that cannot be listed must not fail the scrape
            log.warning("could not count quarantined lake batches: %s", exc)
            return
        yield GaugeMetricFamily(
            "imagelake_lake_quarantined_batches",
            "Raw event batches set aside as unreadable (imagelake lake quarantine)",
            value=count,
        )


def render(
    depths: Callable[[], dict[str, int]], quarantined: Callable[[], int] | None = None
) -> bytes:
    """The exposition text: this process's metrics (or all processes'), plus queue depths
    and the lake's quarantined batches."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    depth_registry = CollectorRegistry()
    depth_registry.register(ScrapedGauges(depths, quarantined))
    return text + generate_latest(depth_registry)
