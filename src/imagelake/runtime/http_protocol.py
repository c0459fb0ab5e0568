"""uvicorn's httptools protocol with what its parser lacks: a cap on the request head and a
deadline for it.

llhttp sets no limit on headers, and httptools grows a header's value by concatenation, so
an 80 MB header costs seconds of parsing on the event loop that every client shares. The
head (request line and headers) is counted as it arrives and refused with 431 once it is
over the cap; a head still incomplete after the timeout is refused with 408 (slowloris).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from imagelake.api.errors import error_body

log = logging.getLogger(__name__)

# After a refusal the client may still be sending: its bytes are read and dropped for this
# long, so that closing does not reset the connection before the client has read the reply.
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int
    timeout: float


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    limits = HeadLimits(max_bytes=64 * 1024, timeout=10.0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = False
        self._head_bytes = 0  # received while the head is incomplete (an upper bound)
        self._head_seen = 0  # the parsed head's own bytes
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()  # a client that connects and says nothing is a slow client too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: dropped unparsed
        super().data_received(data)
        if self._reading_head and not self._refused:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_bytes:
                self._refuse_oversized()

    # Parser callbacks: none runs the application once the connection is refused.
    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        self._reading_head, self._head_bytes, self._head_seen = True, 0, 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        if not self._refused:
            self._head_seen += len(url)
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._refused:
            self._head_seen += len(name) + len(value) + 4  # ": " and CRLF
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_head_timer()
        if self._refused:
            return
        if self._head_seen > self.limits.max_bytes:  # the whole head came in one read
            self._refuse_oversized()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self._refused:
            return
        if not self._reading_head:  # not one byte of a request yet: nothing to answer
            self.transport.close()
            return
        message = f"the request headers did not arrive within {self.limits.timeout:g} s"
        self._refuse(408, "request_timeout", message)

    def _refuse_oversized(self) -> None:
        message = f"the request headers are larger than the {self.limits.max_bytes:,}-byte limit"
        self._refuse(431, "request_headers_too_large", message)

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer before the application sees the request, then stop reading and close."""
        self._refused = True
        self._cancel_head_timer()
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("refused a request from %s with %d: %s", peer, status, message)
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # mid-response to a pipelined request: no room for a reply
            return
        body = json.dumps(error_body(code, message)).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def guarded_protocol(limits: HeadLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class uvicorn is given (`http=`), bound to these limits."""

    class Configured(GuardedHttpToolsProtocol):
        pass

    Configured.limits = limits
    return Configured
