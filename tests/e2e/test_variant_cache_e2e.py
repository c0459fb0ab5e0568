"""`imagelake serve` keeps rendered variants under IMAGELAKE_VARIANT_CACHE_BYTES by itself,
and an evicted variant's link still works: it is rendered again."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.e2e.service import Service
from tests.photos import photo_bytes


def test_serve_evicts_variants_over_the_budget_and_their_links_keep_working(
    tmp_path: Path,
) -> None:
    env = {"IMAGELAKE_VARIANT_CACHE_BYTES": "1", "IMAGELAKE_VARIANT_EVICT_INTERVAL": "0.3"}
    svc = Service(tmp_path / "data", extra_env=env, workers=1)
    svc.data_dir.mkdir(parents=True)
    svc.start()
    try:
        with svc.client() as api:
            image_id = api.post(
                "/images", content=photo_bytes("coffee"), headers={"Content-Type": "image/jpeg"}
            ).json()["image_id"]
            svc.wait_for(image_id)
            link = api.get(
                f"/images/{image_id}/download", params={"w": 99}, follow_redirects=False
            ).headers["location"]
        variants = svc.data_dir / "blobs" / "thumbnails" / image_id / "v"
        first = httpx.get(link, timeout=30)
        assert first.status_code == 200
        assert any(p.name.startswith("99x0") for p in variants.iterdir())

        deadline = time.monotonic() + 30
        while any(p.name.startswith("99x0") for p in variants.iterdir()):
            assert time.monotonic() < deadline, "the variant was never evicted"
            time.sleep(0.2)
        kept = sorted(p.name for p in variants.iterdir())  # the upload-time thumbnails stay
        again = httpx.get(link, timeout=30)
    finally:
        svc.stop()

    assert kept and all(name.endswith("-inside-q82.jpg") for name in kept)
    assert again.status_code == 200
    assert again.content == first.content  # rendered again, the same bytes
