"""The body limit stops reading at the cap: an oversized upload is never held in memory."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from starlette.types import Message

from tests.unit.api_harness import open_api
from tests.unit.fakes import FakeImageEngine

LIMIT = 100_000
CHUNK = 10_000


def post(
    app: object, headers: list[tuple[bytes, bytes]], total_chunks: int
) -> tuple[int, int, bytes]:
    """Stream total_chunks chunks at the app; return (status, chunks it pulled, body)."""
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        if pulled >= total_chunks:
            return {"type": "http.disconnect"}
        pulled += 1
        return {"type": "http.request", "body": b"\0" * CHUNK, "more_body": pulled < total_chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/images",
        "raw_path": b"/images",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[operator]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), pulled, body


def test_a_chunked_body_is_read_only_up_to_the_cap(tmp_path: Path) -> None:
    with open_api(tmp_path, FakeImageEngine(), max_upload_bytes=LIMIT) as api:
        headers = [
            (b"content-type", b"image/jpeg"),
            (b"authorization", f"Bearer {api.token}".encode()),
        ]

        status, pulled, body = post(api.client.app, headers, total_chunks=1_000)  # 10 MB offered

    assert status == 413
    assert pulled == LIMIT // CHUNK + 1
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_a_declared_length_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    with open_api(tmp_path, FakeImageEngine(), max_upload_bytes=LIMIT) as api:
        headers = [
            (b"content-type", b"image/jpeg"),
            (b"content-length", str(LIMIT + 1).encode()),
            (b"authorization", f"Bearer {api.token}".encode()),
        ]

        status, pulled, body = post(api.client.app, headers, total_chunks=1_000)

    assert status == 413
    assert pulled == 0
    assert json.loads(body)["error"]["code"] == "payload_too_large"
