"""Helpers for driving the observer of a running service: events, stats, the raw archive."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.service import Service


def request_event(image_id: str, user_id: str = "42", **extra: Any) -> dict[str, Any]:
    return {
        "event_name": "IMAGE_REQUESTED",
        "user_id": user_id,
        "image_id": image_id,
        "timestamp": "2021-07-11T09:17:13+00:00",
        **extra,
    }


def new_id() -> str:
    return str(uuid.uuid4())


def wait_for_count(
    client: httpx.Client, image_id: str, count: int, timeout: float = 60
) -> dict[str, Any]:
    """Poll an image's stats until request_count reaches count; fail if it goes past."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = client.get(f"/images/{image_id}/stats")
        if reply.status_code == 200:
            body = reply.json()
            assert body["request_count"] <= count, body
            if body["request_count"] == count:
                return body
        time.sleep(0.1)
    raise AssertionError(f"{image_id} never reached {count} requests: {body}")


def archive_files(service: Service) -> list[Path]:
    return sorted((service.data_dir / "blobs" / "events" / "raw").rglob("*.jsonl"))


def archive_lines(service: Service) -> list[dict[str, Any]]:
    lines = []
    for path in archive_files(service):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def dead_letters(service: Service) -> list[dict[str, Any]]:
    listed = service.cli("dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line) for line in listed.stdout.decode().splitlines()]


def wait_for_dead_letters(
    service: Service, count: int, timeout: float = 60
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    letters: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        letters = dead_letters(service)
        if len(letters) >= count:
            return letters
        time.sleep(0.2)
    raise AssertionError(f"expected {count} dead letters, have {letters}")
