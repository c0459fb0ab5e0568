"""API keys: random tokens, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from imagelake.domain.errors import Unauthorized
from imagelake.domain.images import ApiKey, utcnow
from imagelake.ports import Catalog

KEY_PREFIX = "il_"


def hash_key(token: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is as safe as a slow one here.
    return hashlib.sha256(token.encode()).hexdigest()


class KeyService:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def create(self, user_id: str, email: str | None = None) -> tuple[ApiKey, str]:
        """Make a key for a user; the plain token is returned once and never stored."""
        token = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=uuid.uuid4().hex[:12],
            key_hash=hash_key(token),
            user_id=user_id,
            created_at=utcnow(),
            email=email,
        )
        self._catalog.add_key(key)
        return key, token

    def authenticate(self, authorization: str | None) -> ApiKey:
        if not authorization:
            raise Unauthorized("missing API key: send 'Authorization: Bearer KEY'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("malformed Authorization header: expected 'Bearer KEY'")
        key = self._catalog.find_key(hash_key(token.strip()))
        if key is None or key.revoked:
            raise Unauthorized("invalid or revoked API key")
        return key

    def list(self) -> list[ApiKey]:
        return self._catalog.list_keys()

    def revoke(self, key_id: str) -> None:
        self._catalog.revoke_key(key_id)

    def has_keys(self) -> bool:
        return any(not key.revoked for key in self._catalog.list_keys())
