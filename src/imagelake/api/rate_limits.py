"""Rate limits (the `limits` library, in memory): requests per API key, and failed
authentications per client address, checked before authenticating so a client guessing
keys is stopped before it tries again."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from imagelake.domain.errors import RateLimited, Unauthorized


class RateLimits:
    def __init__(self, spec: str) -> None:
        self._items: list[RateLimitItem] = parse_many(spec) if spec else []
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def count_request(self, key_id: str) -> None:
        """One request with this key; RateLimited once it is over any limit."""
        for item in self._items:
            if not self._limiter.hit(item, "key", key_id):
                self._refuse(item, ("key", key_id), "requests with this API key")

    @contextmanager
    def authenticating(self, address: str) -> Iterator[None]:
        """Around an authentication: refused while address is over its failures; a failure
        (Unauthorized) counts against it."""
        who = ("address", address)
        for item in self._items:
            if not self._limiter.test(item, *who):
                self._refuse(item, who, "failed authentications from this address")
        try:
            yield
        except Unauthorized:
            for item in self._items:
                self._limiter.hit(item, *who)
            raise

    def _refuse(self, item: RateLimitItem, who: tuple[str, str], what: str) -> None:
        reset = self._limiter.get_window_stats(item, *who).reset_time
        wait = max(1, math.ceil(reset - time.time()))
        raise RateLimited(f"over the limit of {item} {what}; retry in {wait} s", wait)


def rate_limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
