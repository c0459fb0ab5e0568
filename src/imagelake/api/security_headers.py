"""Headers every response carries: no MIME sniffing anywhere, and /files served inert."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = {"X-Content-Type-Options": "nosniff"}
# A stored file is whatever a client uploaded: opened directly, it may run no script, load
# nothing, and gets an opaque origin (so it cannot read the site's cookies or API).
FILES_CSP = "default-src 'none'; sandbox"
INERT_PATHS = ("/files/", "/d/", "/thumbor/")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = dict(NOSNIFF)
        if scope["path"].startswith(INERT_PATHS):
            extra["Content-Security-Policy"] = FILES_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
