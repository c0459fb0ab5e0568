"""The whole HTTP API in-process: real services over the in-memory adapters, no server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from imagelake.api.app import serving_app
from imagelake.bootstrap import Services, build, services
from imagelake.config import Settings
from imagelake.domain.access import Role
from imagelake.ports import ImageEngine

PUBLIC_URL = "http://imagelake.test"
SIGNING_KEY = "unit-test-signing-key"
MEMORY: dict[str, Any] = {
    "blobs": "memory://",
    "catalog": "memory://",
    "queue": "memory://",
    "signing_key": SIGNING_KEY,
    "public_url": PUBLIC_URL,
    "workers": 0,
    "retry_base_delay": 0,
}


@dataclass
class Api:
    client: TestClient
    wired: Services
    token: str

    @property
    def settings(self) -> Settings:
        return self.wired.container.settings

    def upload(self, data: bytes, content_type: str = "image/jpeg") -> httpx2.Response:
        return self.client.post("/images", content=data, headers={"Content-Type": content_type})

    def drain(self, limit: int = 200) -> int:
        """Run the thumbnail consumer until no job is left; return how many it handled."""
        handled = 0
        while handled < limit and self.wired.thumbnail_jobs.run_once(wait=0):
            handled += 1
        return handled

    def upload_ready(self, data: bytes) -> dict[str, Any]:
        created = self.upload(data)
        assert created.status_code == 201, created.text
        self.drain()
        body: dict[str, Any] = self.get_image(created.json()["image_id"])
        assert body["status"] == "ready", body
        return body

    def get_image(self, image_id: str, **params: Any) -> dict[str, Any]:
        reply = self.client.get(f"/images/{image_id}", params=params)
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    def fetch(self, signed_url: str, **headers: str) -> httpx2.Response:
        """GET a signed URL the service handed out, without an API key."""
        assert signed_url.startswith((PUBLIC_URL + "/files/", PUBLIC_URL + "/d/")), signed_url
        parts = urlsplit(signed_url)
        return self.client.get(
            f"{parts.path}?{parts.query}", headers={"Authorization": "", **headers}
        )

    def metric(self, name: str, **labels: str) -> float:
        """One sample's value from /metrics (0 when absent)."""
        text = self.client.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0

    def healthy(self) -> bool:
        return self.client.get("/healthz").status_code == 200

    @contextmanager
    def worker(self) -> Iterator[None]:
        """The thumbnail consumer in a background thread, as `imagelake serve` runs one."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                self.wired.thumbnail_jobs.run_once(wait=0.02)

        thread = threading.Thread(target=loop, name="test-worker", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(10)


@contextmanager
def open_api(
    tmp_path: Path, engine: ImageEngine | None = None, role: Role = Role.USER, **overrides: Any
) -> Iterator[Api]:
    """A fresh service on in-memory adapters, an API key for it, and a client that sends it.

    engine, if given, stands in for libvips (tests.unit.fakes.FakeImageEngine).
    """
    settings = Settings(data_dir=tmp_path / "data", **{**MEMORY, **overrides})
    container = build(settings)
    if engine is not None:
        container.engine = engine
    wired = services(container)
    _, token = wired.keys.create("tester", role=role)
    client = TestClient(serving_app(wired), headers={"Authorization": f"Bearer {token}"})
    try:
        with client:
            yield Api(client, wired, token)
    finally:
        container.close()
