"""API keys and dashboard sessions in the SQLite catalog's file."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from imagelake.domain.errors import NotFound
from imagelake.domain.images import ApiKey, DashboardSession

Connect = Callable[[], AbstractContextManager[sqlite3.Connection]]

KEYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
    created_at TEXT NOT NULL, email TEXT, revoked INTEGER NOT NULL DEFAULT 0,
    role TEXT NOT NULL DEFAULT 'user');
CREATE TABLE IF NOT EXISTS dashboard_sessions (
    session_hash TEXT PRIMARY KEY, key_hash TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_by_key ON dashboard_sessions (key_hash);
"""
# Keys made before roles: the first-start key (user `admin`) stays an admin, the rest `user`.
ADD_ROLES = (
    "ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'user'",
    "UPDATE api_keys SET role = 'admin' WHERE user_id = 'admin'",
)
KEY_COLUMNS = "key_id, key_hash, user_id, created_at, email, revoked, role"
SESSION_COLUMNS = "session_hash, key_hash, created_at, expires_at"


def migrate_keys(conn: sqlite3.Connection) -> None:
    """Bring an api_keys table from before roles up to KEYS_SCHEMA (inside a transaction)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(api_keys)")}
    if columns and "role" not in columns:
        for statement in ADD_ROLES:
            conn.execute(statement)


class SqliteKeys:
    def __init__(self, read: Connect, write: Connect) -> None:
        self._read = read
        self._write = write

    def add_key(self, key: ApiKey) -> None:
        row = (
            key.key_id, key.key_hash, key.user_id, _iso(key.created_at), key.email,
            key.revoked, key.role,
        )  # fmt: skip
        with self._write() as conn:
            conn.execute(f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?,?,?,?,?,?,?)", row)

    def find_key(self, key_hash: str) -> ApiKey | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?", (key_hash,)
            ).fetchone()
        return None if row is None else _api_key(row)

    def list_keys(self) -> list[ApiKey]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id"
            ).fetchall()
        return [_api_key(row) for row in rows]

    def revoke_key(self, key_id: str) -> ApiKey:
        with self._write() as conn:
            row = conn.execute(
                f"UPDATE api_keys SET revoked = 1 WHERE key_id = ? RETURNING {KEY_COLUMNS}",
                (key_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"no API key {key_id}")
        return _api_key(row)

    def add_session(self, session: DashboardSession) -> None:
        row = (
            session.session_hash, session.key_hash, _iso(session.created_at),
            _iso(session.expires_at),
        )  # fmt: skip
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO dashboard_sessions ({SESSION_COLUMNS}) VALUES (?,?,?,?)", row
            )

    def find_session(self, session_hash: str) -> DashboardSession | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {SESSION_COLUMNS} FROM dashboard_sessions WHERE session_hash = ?",
                (session_hash,),
            ).fetchone()
        if row is None:
            return None
        return DashboardSession(
            row[0], row[1], datetime.fromisoformat(row[2]), datetime.fromisoformat(row[3])
        )

    def delete_sessions(
        self, *, session_hash: str | None = None, key_hash: str | None = None
    ) -> int:
        with self._write() as conn:
            deleted: int = conn.execute(
                "DELETE FROM dashboard_sessions WHERE session_hash = ? OR key_hash = ?",
                (session_hash, key_hash),
            ).rowcount
        return deleted


def _api_key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(
        row[0], row[1], row[2], datetime.fromisoformat(row[3]), row[4], bool(row[5]), row[6]
    )


def _iso(at: datetime) -> str:
    """Fixed-width UTC text, so that string order is time order."""
    if at.tzinfo is not UTC:
        at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    return at.isoformat(timespec="microseconds")
