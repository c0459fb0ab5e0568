"""IMAGELAKE_VARIANT_CACHE_BYTES: over it, the least recently requested variants go first."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from imagelake.adapters.memory import MemoryBlobStore, MemoryCatalog
from imagelake.domain.events import RequestRecord
from imagelake.domain.images import ThumbnailSpec, new_image_id, thumbnail_key
from imagelake.domain.signing import Signer
from imagelake.services.variant_cache import VariantCache

SPEC = ThumbnailSpec(sizes=(128,))
KB = b"x" * 1000


def setup(budget: int) -> tuple[MemoryBlobStore, MemoryCatalog, VariantCache]:
    store, catalog = MemoryBlobStore("http://x", Signer(b"k")), MemoryCatalog()
    cache = VariantCache(thumbnails=store, catalog=catalog, spec=SPEC, max_bytes=budget)
    return store, catalog, cache


def requested(catalog: MemoryCatalog, image_id: str, hour: int) -> None:
    at = datetime(2026, 1, 1, hour, tzinfo=UTC)
    catalog.record_requests([RequestRecord(f"{image_id}-{hour}", image_id, "u", at)])


def test_the_least_recently_requested_images_variants_go_first_thumbnails_stay() -> None:
    store, catalog, cache = setup(budget=2500)
    old, recent, never = new_image_id(), new_image_id(), new_image_id()
    for image_id in (old, recent, never):
        store.put(thumbnail_key(image_id, 128, SPEC), KB, "image/jpeg")  # made at upload
        store.put(f"thumbnails/{image_id}/v/10x0-q82.jpg", KB, "image/jpeg")
    requested(catalog, old, 1)
    requested(catalog, recent, 9)

    evicted = cache.evict()

    left = set(store.list("thumbnails/"))
    assert (evicted.variants, evicted.bytes_freed, evicted.bytes_kept) == (1, 1000, 2000)
    assert f"thumbnails/{never}/v/10x0-q82.jpg" not in left  # never requested: first out
    assert {f"thumbnails/{i}/v/10x0-q82.jpg" for i in (old, recent)} <= left
    assert all(thumbnail_key(i, 128, SPEC) in left for i in (old, recent, never))

    cache_small = VariantCache(thumbnails=store, catalog=catalog, spec=SPEC, max_bytes=1000)
    assert cache_small.evict().variants == 1
    assert f"thumbnails/{old}/v/10x0-q82.jpg" not in set(store.list("thumbnails/"))
    assert f"thumbnails/{recent}/v/10x0-q82.jpg" in set(store.list("thumbnails/"))


def test_variants_of_one_image_go_oldest_rendered_first() -> None:
    store, _, cache = setup(budget=1000)
    image_id = new_image_id()
    store.put(f"thumbnails/{image_id}/v/first.jpg", KB, "image/jpeg")
    time.sleep(0.01)
    store.put(f"thumbnails/{image_id}/v/second.jpg", KB, "image/jpeg")

    cache.evict()

    assert list(store.list("thumbnails/")) == [f"thumbnails/{image_id}/v/second.jpg"]


def test_under_the_budget_or_without_one_nothing_is_deleted() -> None:
    for budget in (0, 10_000):
        store, _, cache = setup(budget)
        for n in range(5):
            store.put(f"thumbnails/{new_image_id()}/v/{n}.jpg", KB, "image/jpeg")

        evicted = cache.evict()

        assert (evicted.variants, evicted.bytes_kept) == (0, 5000)
        assert len(list(store.list("thumbnails/"))) == 5
