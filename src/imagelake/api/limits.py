"""Refuse oversized or too slow request bodies while they stream in, never buffering more
than the cap."""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagelake.api.errors import error_body
from imagelake.domain.errors import PayloadTooLarge, RequestTimeout


class BodyLimitMiddleware:
    """max_bytes of body at most; timeout: the seconds spent waiting for it, in all."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"the body is larger than the {self.max_bytes:,}-byte limit"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _reply_413(send, message)
            return
        seen, waited, complete = 0, 0.0, False

        async def limited() -> Message:
            nonlocal seen, waited, complete
            if complete:  # the body is in: later calls wait for a disconnect, for any time
                return await receive()
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout - waited):
                    msg = await receive()
            except TimeoutError:
                slow = f"the request body did not arrive within {self.timeout:g} s"
                raise RequestTimeout(slow) from None
            finally:
                waited += time.monotonic() - started
            complete = msg["type"] != "http.request" or not msg.get("more_body", False)
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(message)
            return msg

        await self.app(scope, limited, send)


async def _reply_413(send: Send, message: str) -> None:
    body = json.dumps(error_body(PayloadTooLarge.code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
