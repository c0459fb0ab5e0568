"""The hot path of delivery, below FastAPI: a GET of a variant already rendered into a local
store is verified, counted and answered here, in a few dozen microseconds of Python.

Anything else (a first render, an original, HEAD, Range, a conditional GET, a bad link)
goes on to the /d/ route, which does the same with FastAPI's validation and error replies.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from imagelake import metrics
from imagelake.api.security_headers import FILES_CSP
from imagelake.bootstrap import Services
from imagelake.domain.errors import ImagelakeError
from imagelake.services.delivery import Delivery

COUNTED = metrics.DELIVERIES.labels("counted")
_SLOW_HEADERS = (b"range", b"if-none-match", b"if-range", b"if-modified-since")


class FastDelivery:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self._services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"][:3] == "/d/":
            answered = await self._answer(scope, send)
            if answered:
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send) -> bool:
        accept = b""
        for name, value in scope["headers"]:
            if name in _SLOW_HEADERS:
                return False
            if name == b"accept":
                accept = value
        image_id = scope["path"][3:]
        query = scope["query_string"].decode("latin-1")
        try:
            delivery = self._services.delivery.cached(image_id, query, accept.decode("latin-1"))
        except ImagelakeError:  # the route answers it, with the usual error body
            return False
        data = delivery.data if delivery is not None else None
        if delivery is None or data is None:  # not cached, or too big to send in one piece
            return False
        try:
            await self._services.requests.record_async(
                delivery.user_id, delivery.image_id, delivery.name
            )
        except ImagelakeError:  # not counted, so not sent: the route tries once more or says 503
            return False
        COUNTED.inc()
        await send(
            {"type": "http.response.start", "status": 200, "headers": _headers(delivery, data)}
        )
        await send({"type": "http.response.body", "body": data})
        return True


def _headers(delivery: Delivery, data: bytes) -> list[tuple[bytes, bytes]]:
    """What the route's response would carry, its middleware's security headers included."""
    headers = {
        "content-type": delivery.meta.content_type,
        "content-length": str(len(data)),
        **{name.lower(): value for name, value in delivery.caching_headers.items()},
        "x-content-type-options": "nosniff",
        "content-security-policy": FILES_CSP,
    }
    return [(name.encode(), value.encode()) for name, value in headers.items()]
