"""Real receivers on loopback: an HTTP server that records POSTs, an SMTP server (aiosmtpd)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from aiosmtpd.controller import Controller

from tests.moto_server import free_port

T = TypeVar("T")


def wait_until(found: Callable[[], T | None], timeout: float = 30, what: str = "it") -> T:
    """Poll found() until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpRecorder:
    """Answers each POST with the next status of `statuses` (then 200) and keeps what came."""

    statuses: list[int] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)  # answered with 2xx
    refused: list[Post] = field(default_factory=list)  # answered with an error status
    url: str = ""

    def _answer(self, post: Post) -> int:
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else 200
            (self.posts if status < 400 else self.refused).append(post)
        return status

    @contextmanager
    def running(self) -> Iterator[HttpRecorder]:
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    data = gzip.decompress(data)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = recorder._answer(Post(self.path, headers, data))
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the test asserts on what was recorded

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


class _Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, _class=EmailMessage, policy=policy.default)
        self.mails.append((list(envelope.rcpt_tos), mail))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[tuple[str, list[tuple[list[str], EmailMessage]]]]:
    """An SMTP server on a free loopback port: (smtp://host:port, the mails it received)."""
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox.mails
    finally:
        controller.stop()
