"""API keys and dashboard sessions: random tokens, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import timedelta

from imagelake.domain.access import Role
from imagelake.domain.errors import InvalidInput, Unauthorized
from imagelake.domain.images import ApiKey, DashboardSession, utcnow
from imagelake.ports import Catalog

KEY_PREFIX = "il_"
SESSION_PREFIX = "ils_"
MAX_USER_ID = 128
_USER_ID = re.compile(r"[A-Za-z0-9._@+-]+")


def hash_key(token: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is as safe as a slow one here.
    return hashlib.sha256(token.encode()).hexdigest()


class KeyService:
    def __init__(self, catalog: Catalog, session_ttl: timedelta = timedelta(days=7)) -> None:
        self._catalog = catalog
        self._session_ttl = session_ttl

    def create(
        self, user_id: str, email: str | None = None, role: Role = Role.USER
    ) -> tuple[ApiKey, str]:
        """Make a key for a user; the plain token is returned once and never stored."""
        if not 0 < len(user_id) <= MAX_USER_ID or not _USER_ID.fullmatch(user_id):
            raise InvalidInput(
                f"a user id is 1-{MAX_USER_ID} letters, digits or . _ @ + - (got {user_id[:40]!r})"
            )
        token = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=uuid.uuid4().hex[:12],
            key_hash=hash_key(token),
            user_id=user_id,
            created_at=utcnow(),
            email=email,
            role=str(Role(role)),
        )
        self._catalog.add_key(key)
        return key, token

    def authenticate(self, authorization: str | None) -> ApiKey:
        if not authorization:
            raise Unauthorized("missing API key: send 'Authorization: Bearer KEY'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("malformed Authorization header: expected 'Bearer KEY'")
        return self._valid_key(hash_key(token.strip()))

    def list(self) -> list[ApiKey]:
        return self._catalog.list_keys()

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke the key and end every dashboard session opened with it."""
        key = self._catalog.revoke_key(key_id)
        self._catalog.delete_sessions(key_hash=key.key_hash)
        return key

    def has_keys(self) -> bool:
        return any(not key.revoked for key in self._catalog.list_keys())

    def open_session(self, authorization: str | None) -> tuple[ApiKey, str]:
        """Sign in with a key: a new session's token (for the cookie) and the key."""
        key = self.authenticate(authorization)
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        session = DashboardSession(hash_key(token), key.key_hash, now, now + self._session_ttl)
        self._catalog.add_session(session)
        return key, token

    def session_key(self, token: str) -> ApiKey:
        """The key behind a live session; Unauthorized once it expired, ended or was revoked."""
        session = self._catalog.find_session(hash_key(token))
        if session is None or session.expires_at <= utcnow():
            raise Unauthorized("the dashboard session has ended: sign in again")
        return self._valid_key(session.key_hash)

    def end_session(self, token: str) -> None:
        self._catalog.delete_sessions(session_hash=hash_key(token))

    def _valid_key(self, key_hash: str) -> ApiKey:
        key = self._catalog.find_key(key_hash)
        if key is None or key.revoked:
            raise Unauthorized("invalid or revoked API key")
        return key
