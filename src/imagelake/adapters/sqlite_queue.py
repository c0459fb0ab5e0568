"""A durable queue in one SQLite file (WAL), shared by queues and processes.

Sends commit with synchronous=FULL: a message is on disk before send() returns. Claims, acks
and retries commit with synchronous=NORMAL: losing one to a power cut only brings a message
back early or again, which at-least-once consumers handle anyway, and the next FULL commit
makes them durable too. Concurrent sends of one process share a commit (group commit).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from imagelake.domain.errors import BackendError, InvalidInput, NotFound
from imagelake.ports import DeadLetter, Message

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body BLOB NOT NULL,
    sent_at REAL NOT NULL, visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body BLOB NOT NULL,
    reason TEXT NOT NULL, attempts INTEGER NOT NULL, sent_at REAL NOT NULL, dead_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS dead_letters_by_queue ON dead_letters (queue, dead_at, id);
"""

CLAIM = """
UPDATE messages SET visible_at = ?, receive_count = receive_count + 1, receipt = ?
WHERE id IN (
    SELECT id FROM messages WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, id LIMIT ?)
RETURNING id, body, receipt, receive_count, sent_at
"""

MOVE_TO_DEAD_LETTERS = """
INSERT INTO dead_letters (queue, body, reason, attempts, sent_at, dead_at)
SELECT queue, body, ?, receive_count, sent_at, ? FROM messages WHERE id = ? AND receipt = ?
"""

REPLAY = """
INSERT INTO messages (queue, body, sent_at, visible_at)
SELECT queue, body, ?, ? FROM dead_letters WHERE queue = ? AND (? IS NULL OR id = ?) ORDER BY id
"""

ACK = "DELETE FROM messages WHERE receipt = ? AND id IN (SELECT value FROM json_each(?))"
INSERT = "INSERT INTO messages (queue, body, sent_at, visible_at) VALUES (?, ?, ?, ?)"

FIRST_PAUSE, LONGEST_PAUSE = 0.05, 0.2


@dataclass
class _Send:
    rows: list[tuple[str, bytes, float, float]]
    done: bool = False
    error: BaseException | None = None


class SqliteQueue:
    def __init__(self, path: Path, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._sends: list[_Send] = []  # waiting for the next group commit
        self._sends_lock = threading.Lock()
        self._durable = True
        with _translated():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA busy_timeout = 30000")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")

    def send(self, bodies: Sequence[bytes]) -> None:
        if not bodies:
            return
        now = time.time()
        mine = _Send([(self.name, bytes(body), now, now) for body in bodies])
        with self._sends_lock:
            self._sends.append(mine)
        with self._lock:
            if not mine.done:  # nobody took it along: commit everything waiting, mine included
                with self._sends_lock:
                    group, self._sends = self._sends, []
                try:
                    with self._transaction(durable=True) as conn:
                        conn.executemany(INSERT, [row for send in group for row in send.rows])
                except BaseException as exc:
                    for send in group:
                        send.error = exc
                finally:
                    for send in group:
                        send.done = True
        if mine.error is not None:
            raise BackendError(f"queue database error: {mine.error}") from mine.error

    def receive(
        self, max_messages: int, visibility_timeout: float, wait: float = 0
    ) -> list[Message]:
        if max_messages < 1 or visibility_timeout < 0:
            raise InvalidInput("max_messages must be >= 1 and visibility_timeout >= 0")
        deadline = time.monotonic() + wait
        pause = FIRST_PAUSE
        while True:
            claimed = self._claim(max_messages, visibility_timeout)
            left = deadline - time.monotonic()
            if claimed or left <= 0:
                return claimed
            time.sleep(min(pause, left))
            pause = min(pause * 2, LONGEST_PAUSE)

    def ack(self, messages: Sequence[Message]) -> None:
        by_receipt: dict[str, list[int]] = defaultdict(list)  # one receipt per claim
        for message in messages:
            by_receipt[message.receipt].append(_rowid(message))
        if by_receipt:
            with self._write(durable=False) as conn:
                for receipt, ids in by_receipt.items():
                    conn.execute(ACK, (receipt, json.dumps(ids)))

    def retry(self, message: Message, delay: float) -> None:
        if delay < 0:
            raise InvalidInput("delay must be >= 0")
        with self._write(durable=False) as conn:
            conn.execute(
                "UPDATE messages SET visible_at = ? WHERE id = ? AND receipt = ?",
                (time.time() + delay, _rowid(message), message.receipt),
            )

    def dead_letter(self, message: Message, reason: str) -> None:
        held = (_rowid(message), message.receipt)
        with self._write() as conn:
            conn.execute(MOVE_TO_DEAD_LETTERS, (reason, time.time(), *held))
            conn.execute("DELETE FROM messages WHERE id = ? AND receipt = ?", held)

    def depth(self) -> int:
        with self._read() as conn:
            sql = "SELECT count(*) FROM messages WHERE queue = ?"
            count: int = conn.execute(sql, (self.name,)).fetchone()[0]
        return count

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, body, reason, attempts, sent_at, dead_at FROM dead_letters "
                "WHERE queue = ? ORDER BY dead_at DESC, id DESC LIMIT ?",
                (self.name, limit),
            ).fetchall()
        return [DeadLetter(str(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def replay(self, dead_letter_id: str | None = None) -> int:
        wanted = None if dead_letter_id is None else _rowid_or_none(dead_letter_id)
        if dead_letter_id is not None and wanted is None:
            raise NotFound(f"no dead letter {dead_letter_id!r} in queue {self.name}")
        now = time.time()
        with self._write() as conn:
            moved = conn.execute(REPLAY, (now, now, self.name, wanted, wanted)).rowcount
            if dead_letter_id is not None and moved == 0:
                raise NotFound(f"no dead letter {dead_letter_id!r} in queue {self.name}")
            conn.execute(
                "DELETE FROM dead_letters WHERE queue = ? AND (? IS NULL OR id = ?)",
                (self.name, wanted, wanted),
            )
        return moved

    def purge_dead_letters(self) -> int:
        with self._write() as conn:
            purged: int = conn.execute(
                "DELETE FROM dead_letters WHERE queue = ?", (self.name,)
            ).rowcount
        return purged

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _claim(self, max_messages: int, visibility_timeout: float) -> list[Message]:
        now = time.time()
        # A plain read first, so that idle pollers never take the write lock.
        with self._read() as conn:
            sql = "SELECT 1 FROM messages WHERE queue = ? AND visible_at <= ? LIMIT 1"
            if conn.execute(sql, (self.name, now)).fetchone() is None:
                return []
        receipt = secrets.token_hex(16)
        with self._write(durable=False) as conn:
            params = (now + visibility_timeout, receipt, self.name, now, max_messages)
            rows = conn.execute(CLAIM, params).fetchall()
        rows.sort()
        return [Message(str(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with _translated(), self._lock:
            yield self._conn

    @contextmanager
    def _write(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        with _translated(), self._lock, self._transaction(durable) as conn:
            yield conn

    @contextmanager
    def _transaction(self, durable: bool) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; the caller holds self._lock."""
        if durable != self._durable:
            self._conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            self._durable = durable
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.rollback()
            raise


def _rowid_or_none(message_id: str) -> int | None:
    return int(message_id) if message_id.isascii() and message_id.isdigit() else None


def _rowid(message: Message) -> int:
    return _rowid_or_none(message.message_id) or -1  # a foreign id matches no row


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise BackendError(f"queue database error: {exc}") from exc
