"""SENTRY_DSN at a loopback receiver: a failing backend in the API and in a worker gets reported."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.service import Service
from tests.integration.receivers import HttpRecorder, Post, wait_until


def sentry_events(posts: list[Post]) -> list[dict[str, Any]]:
    """The error events inside the envelopes the SDK sent (header line, then item pairs)."""
    events = []
    for post in posts:
        assert post.path == "/api/1/envelope/", post.path
        lines = post.body.split(b"\n")[1:]
        for header, payload in zip(lines[::2], lines[1::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


def exception_types(event: dict[str, Any]) -> list[str]:
    return [e["type"] for e in event.get("exception", {}).get("values", [])]


def drop_table(db: Path, table: str) -> None:
    """Break the running service's database behind its back: a backend that fails."""
    if db.exists():
        with sqlite3.connect(db, timeout=30) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


@contextmanager
def sentry_receiver() -> Iterator[tuple[str, HttpRecorder]]:
    with HttpRecorder().running() as receiver:
        yield receiver.url.replace("http://", "http://public@") + "/1", receiver


def reported(receiver: HttpRecorder) -> list[dict[str, Any]]:
    return [e for e in sentry_events(receiver.posts) if exception_types(e)]


def fail_a_backend(service: Service, receiver: HttpRecorder) -> list[dict[str, Any]]:
    """Break the catalog under a request; every error event the API has sent, once it has."""
    drop_table(service.data_dir / "catalog.db", "request_stats")
    with service.client() as client:
        reply = client.get("/images/b9f08c7f/stats")
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "backend_error"
    return wait_until(lambda: reported(receiver), what="a Sentry event from the API")


def test_a_failing_backend_in_the_api_is_reported(tmp_path: Path) -> None:
    with sentry_receiver() as (dsn, receiver):
        service = Service(tmp_path / "data", extra_env={"SENTRY_DSN": dsn}, workers=0).start()
        try:
            [event] = fail_a_backend(service, receiver)
        finally:
            service.stop()

    assert exception_types(event)[-1] == "BackendError"
    assert "request_stats" in json.dumps(event["exception"])
    assert event["tags"]["component"] == "api"
    assert event["server_name"] == "api"


PART = b"--b\r\nContent-Disposition: form-data; name=file; filename=a.jpg\r\n\r\n"


@pytest.mark.parametrize(
    ("content_type", "start"),
    [("image/jpeg", b"\xff\xd8\xff"), ("multipart/form-data; boundary=b", PART)],
    ids=["raw", "multipart"],
)
def test_a_client_that_leaves_mid_upload_is_one_info_line_and_no_report(
    tmp_path: Path, content_type: str, start: bytes
) -> None:
    with sentry_receiver() as (dsn, receiver):
        service = Service(tmp_path / "data", extra_env={"SENTRY_DSN": dsn}, workers=0).start()
        try:
            with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
                head = (
                    f"POST /images HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                    f"Authorization: Bearer {service.key}\r\nContent-Length: 1000000\r\n\r\n"
                )
                sock.sendall(head.encode() + start + bytes(100_000))
            wait_until(lambda: "disconnected" in service.log(), what="the disconnect logged")
            # Events leave in order: once the failure's arrives, any about the upload would have.
            events = fail_a_backend(service, receiver)
        finally:
            service.stop()

    assert [exception_types(e)[-1] for e in events] == ["BackendError"]
    log = service.log().split("backend failure on")[0]  # what came before the barrier
    [line] = [line for line in log.splitlines() if "disconnected" in line]
    assert " INFO " in line and "POST /images" in line
    assert "Traceback" not in log and "unhandled" not in log


def test_a_failing_backend_in_a_worker_is_reported(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with sentry_receiver() as (dsn, receiver):
        env = Service(data_dir, extra_env={"SENTRY_DSN": dsn}).env
        worker = subprocess.Popen(
            [sys.executable, "-m", "imagelake", "worker", "--workers", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:

            def reported() -> list[dict[str, Any]]:
                # Again and again: the worker recreates the table if it was still starting.
                drop_table(data_dir / "queue.db", "messages")
                return [e for e in sentry_events(receiver.posts) if exception_types(e)]

            event = wait_until(reported, what="a Sentry event from the worker")[0]
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(20)

    assert exception_types(event)[-1] == "BackendError"
    assert "no such table: messages" in json.dumps(event["exception"])
    assert event["tags"]["component"] == "worker"
