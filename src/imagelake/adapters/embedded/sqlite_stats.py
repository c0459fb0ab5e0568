"""Request statistics in the SQLite catalog's file: seen keys and the counts in one transaction."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from imagelake.adapters.tally import ClaimingTally, ImageTally
from imagelake.domain.events import ImageStats, RequestRecord

Connect = Callable[[], AbstractContextManager[sqlite3.Connection]]

STATS_SCHEMA = """
CREATE TABLE IF NOT EXISTS request_stats (
    image_id TEXT PRIMARY KEY, request_count INTEGER NOT NULL,
    first_requested_at TEXT NOT NULL, last_requested_at TEXT NOT NULL,
    last_user_id TEXT NOT NULL, unique_users INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS stats_users (
    image_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (image_id, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen_events (key BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS stats_users_count AFTER INSERT ON stats_users BEGIN
    UPDATE request_stats SET unique_users = unique_users + 1 WHERE image_id = NEW.image_id;
END;
"""

KEY_BYTES = 16  # of a seen event's key: a digest of its idempotency key

# Insert a batch of keys (?2: KEY_BYTES each, back to back) in one statement; returns the new.
RECORD_KEYS = f"""
INSERT INTO seen_events (key)
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
SELECT substr(?2, i * {KEY_BYTES} + 1, {KEY_BYTES}) FROM n WHERE true
ON CONFLICT DO NOTHING RETURNING key
"""

# Fold one image's batch into its row; the latest (timestamp, user) wins whatever the arrival order.
UPSERT_STATS = """
INSERT INTO request_stats
    (image_id, request_count, first_requested_at, last_requested_at, last_user_id)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (image_id) DO UPDATE SET
    request_count = request_count + excluded.request_count,
    first_requested_at = min(first_requested_at, excluded.first_requested_at),
    last_requested_at = max(last_requested_at, excluded.last_requested_at),
    last_user_id = CASE
        WHEN (excluded.last_requested_at, excluded.last_user_id) > (last_requested_at, last_user_id)
        THEN excluded.last_user_id ELSE last_user_id END
"""


class SqliteStats(ClaimingTally[sqlite3.Connection]):
    """The catalog's StatsCatalog, over its read connections and its write transactions."""

    def __init__(self, read: Connect, write: Connect) -> None:
        self._read = read
        self._write = write

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._write()

    def _claim_new_keys(
        self, conn: sqlite3.Connection, batch: list[RequestRecord]
    ) -> list[RequestRecord]:
        by_digest = {_digest(r.key): r for r in batch}
        keys = b"".join(sorted(by_digest))  # in key order, the index takes them faster
        return [by_digest[key] for (key,) in conn.execute(RECORD_KEYS, (len(by_digest), keys))]

    def _apply(self, conn: sqlite3.Connection, tallies: list[ImageTally]) -> None:
        rows = [
            (t.image_id, t.count, _iso(t.first_at), _iso(t.last_at), t.last_user_id)
            for t in tallies
        ]
        conn.executemany(UPSERT_STATS, rows)
        users = [(t.image_id, user) for t in tallies for user in t.users]
        conn.executemany("INSERT OR IGNORE INTO stats_users VALUES (?, ?)", users)

    def _read_stats(self, image_id: str) -> ImageStats | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT image_id, request_count, unique_users, first_requested_at, "
                "last_requested_at, last_user_id FROM request_stats WHERE image_id = ?",
                (image_id,),
            ).fetchone()
        if row is None:
            return None
        first, last = datetime.fromisoformat(row[3]), datetime.fromisoformat(row[4])
        return ImageStats(row[0], row[1], row[2], first, last, row[5])


def _digest(key: str) -> bytes:
    # A fixed 16-byte key keeps the ever-growing dedupe index small and cache-friendly.
    return hashlib.blake2b(key.encode(), digest_size=KEY_BYTES).digest()


def _iso(at: datetime) -> str:
    """Fixed-width text of a UTC time (as every tally holds), so that string order is time order."""
    return at.isoformat(timespec="microseconds")
