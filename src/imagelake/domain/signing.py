"""HMAC-SHA256 signatures over a blob key and an expiry time, with key rotation."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from imagelake.domain.errors import Forbidden


@dataclass(frozen=True)
class Signer:
    current: bytes
    previous: Sequence[bytes] = ()

    def signature(self, key: str, expires: int, secret: bytes | None = None) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(secret or self.current, message, hashlib.sha256).hexdigest()

    def sign(self, key: str, now: float, ttl: int) -> tuple[int, str]:
        expires = int(now) + ttl
        return expires, self.signature(key, expires)

    def verify(self, key: str, expires: int, signature: str, now: float) -> None:
        """Raise Forbidden unless the signature is valid under any live secret and not expired."""
        valid = any(
            hmac.compare_digest(self.signature(key, expires, secret), signature)
            for secret in (self.current, *self.previous)
        )
        if not valid:
            raise Forbidden("invalid signature")
        if expires < now:
            raise Forbidden("this link has expired")
