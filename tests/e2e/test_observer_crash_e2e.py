"""Effectively once: kill -9 under load, a lake that was down, replays; nothing lost or doubled."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.observer import (
    archive_lines,
    dead_letters,
    new_id,
    request_event,
    wait_for_count,
    wait_for_dead_letters,
)
from tests.e2e.service import Service

BATCH = 200


def batch_of(image_id: str) -> list[dict[str, Any]]:
    return [
        request_event(image_id, user_id=str(n % 7), event_id=f"{image_id}/{n}")
        for n in range(BATCH)
    ]


class Load(threading.Thread):
    """POSTs batches, one image each, until the service stops answering."""

    def __init__(self, service: Service) -> None:
        super().__init__(daemon=True)
        self.client = service.client()
        self.accepted: list[str] = []
        self.unanswered: list[str] = []  # sent, but the service died before replying

    def run(self) -> None:
        while True:
            image_id = new_id()
            try:
                reply = self.client.post("/events", json=batch_of(image_id))
            except httpx.HTTPError:
                self.unanswered.append(image_id)
                return
            assert reply.status_code == 202, reply.text
            self.accepted.append(image_id)


def test_kill_9_under_load_then_restart_counts_every_accepted_event_once(tmp_path: Path) -> None:
    # Claimed batches of the killed workers come back after the visibility timeout.
    service = Service(tmp_path / "data", extra_env={"IMAGELAKE_VISIBILITY_TIMEOUT": "5"})
    service.start()
    load = Load(service)
    load.start()
    with service.client() as client:  # kill once the workers are busy consuming
        while not load.accepted or client.get(f"/images/{load.accepted[0]}/stats").is_error:
            time.sleep(0.05)
    service.kill9()
    load.join(30)
    assert not load.is_alive()

    service.start()
    try:
        with service.client() as client:
            for image_id in load.unanswered:  # a client retries what got no answer
                assert client.post("/events", json=batch_of(image_id)).status_code == 202
            accepted = load.accepted + load.unanswered
            for image_id in accepted:
                stats = wait_for_count(client, image_id, BATCH, timeout=120)
                assert stats["unique_users"] == 7
        keys = {line["key"] for line in archive_lines(service) if line["image_id"] in accepted}
        assert dead_letters(service) == []
    finally:
        service.stop()
        load.client.close()

    assert len(keys) == len(accepted) * BATCH


def test_events_dead_lettered_while_the_lake_was_down_are_counted_once_on_replay(
    tmp_path: Path,
) -> None:
    broken_lake = {"IMAGELAKE_ARCHIVE": "file:///sys/imagelake-lake"}  # the OS refuses writes
    down = Service(tmp_path / "data", extra_env=broken_lake, workers=1).start()
    image_id = new_id()
    try:
        with down.client() as client:
            for user in ("ann", "bob"):
                reply = client.post("/events", json=request_event(image_id, user_id=user))
                assert reply.status_code == 202
        letters = wait_for_dead_letters(down, 2)
    finally:
        down.stop()

    assert all("cannot write blob" in d["reason"] for d in letters)
    assert all(d["attempts"] == 5 for d in letters)
    repaired = Service(tmp_path / "data", key=down.key, workers=1).start()
    try:
        assert repaired.cli("dlq", "replay", "--all").returncode == 0
        with repaired.client() as client:
            stats = wait_for_count(client, image_id, 2)
            assert repaired.cli("dlq", "replay", "--all").returncode == 0  # nothing left
            # A repeat of an event already counted, then a marker queued behind it.
            assert client.post("/events", json=request_event(image_id, user_id="ann")).is_success
            marker = new_id()
            assert client.post("/events", json=request_event(marker)).is_success
            wait_for_count(client, marker, 1)
            assert client.get(f"/images/{image_id}/stats").json()["request_count"] == 2
    finally:
        repaired.stop()

    assert stats["unique_users"] == 2
    assert dead_letters(repaired) == []
