"""kill -9 of `imagelake serve` mid-batch: every upload that got a 2xx still reaches ready."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.e2e.service import Service
from tests.photos import encode, large_photo_image, photo_bytes

BATCH = 12
KILL_AFTER = 5  # accepted uploads, at least, before the kill


def camera_batch() -> list[bytes]:
    """BATCH distinct 5 MP camera JPEGs, cut from one generated photo (fast to make)."""
    base = large_photo_image(5.0, "coffee").copy_memory()
    return [encode(base.crop(i * 16, 0, base.width - i * 16, base.height)) for i in range(BATCH)]


def claimed_jobs(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "queue.db") as db:
        sql = "SELECT count(*) FROM messages WHERE queue = 'thumbnails' AND receive_count > 0"
        count: int = db.execute(sql).fetchone()[0]
    return count


def test_kill9_mid_batch_loses_no_accepted_upload(tmp_path: Path) -> None:
    photos = camera_batch()
    # A short visibility timeout, so jobs claimed by the killed workers come back quickly.
    svc = Service(tmp_path / "data", extra_env={"IMAGELAKE_VISIBILITY_TIMEOUT": "5"}).start()
    accepted: dict[int, str] = {}
    refused: dict[int, str] = {}
    lock = threading.Lock()
    enough = threading.Event()

    def send(index: int) -> None:
        try:
            with svc.client() as client:
                reply = client.post(
                    "/images", content=photos[index], headers={"Content-Type": "image/jpeg"}
                )
        except httpx.HTTPError as exc:
            with lock:
                refused[index] = repr(exc)
            return
        with lock:
            if reply.status_code in (200, 201):
                accepted[index] = reply.json()["image_id"]
                if len(accepted) >= KILL_AFTER:
                    enough.set()
            else:
                refused[index] = f"HTTP {reply.status_code}"

    try:
        with svc.client() as client:  # the workers are up and busy before the batch starts
            warm_up = client.post("/images", content=photo_bytes("rocket"))
        svc.wait_for(warm_up.json()["image_id"])
        with ThreadPoolExecutor(3) as pool:
            for index in range(BATCH):
                pool.submit(send, index)
            assert enough.wait(120), refused
            deadline = time.monotonic() + 60
            while claimed_jobs(svc.data_dir) == 0:  # the workers have started on the backlog
                assert time.monotonic() < deadline, "no worker ever claimed a job"
                time.sleep(0.01)
            svc.kill9()
        assert len(accepted) + len(refused) == BATCH
        in_flight = claimed_jobs(svc.data_dir)
        assert in_flight >= 1  # jobs held by the killed workers, neither done nor failed

        svc.start()  # same data dir, same key

        for image_id in accepted.values():
            svc.wait_for(image_id, timeout=120)
        # Every job, including those the dead workers held, is delivered again and finished.
        deadline = time.monotonic() + 60
        while (depth := httpx.get(f"{svc.base_url}/healthz").json()["queues"]["thumbnails"]) > 0:
            assert time.monotonic() < deadline, f"{depth} jobs stuck ({in_flight} were claimed)"
            time.sleep(0.2)
        with svc.client() as client:
            for index, image_id in accepted.items():
                again = client.post("/images", content=photos[index])
                assert (again.status_code, again.json()["image_id"]) == (200, image_id)
            # The uploads cut off by the kill can simply be sent again.
            for index in refused:
                retried = client.post("/images", content=photos[index])
                assert retried.status_code in (200, 201)
                svc.wait_for(retried.json()["image_id"], timeout=120)
            listed = client.get("/images", params={"limit": 50}).json()["images"]
        assert len(listed) == BATCH + 1
        assert {image["status"] for image in listed} == {"ready"}
    finally:
        svc.stop()
