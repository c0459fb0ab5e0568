"""A durable queue in one SQLite file (WAL), shared by queues and processes.

Messages sent together are stored together: one `message_bodies` row holds their bytes back
to back, and a `messages` row is a *run* of them (indices of that body row, see sqlite_runs)
with one visibility, receipt and receive count. A claim takes whole runs and splits the last one
when it holds more than was asked for; a retry splits its message off; an ack or a dead
letter shrinks the run, and the last one deletes it. A batch of 500 events thus costs a few
row writes, not 500 inserts, 500 claims and 500 deletes, while each message behaves as if it
had a row of its own: its id (`<body row>.<index>`) stays the same across redeliveries, and
it is claimed, hidden, retried and dead-lettered on its own.

Sends commit with synchronous=FULL: a message is on disk before send() returns. Claims, acks
and retries commit with synchronous=NORMAL: losing one to a power cut only brings a message
back early or again, which at-least-once consumers handle anyway, and the next FULL commit
makes them durable too. Concurrent sends of one process share a commit (group commit).
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from imagelake.adapters.embedded import sqlite_runs as runs
from imagelake.domain.errors import BackendError, InvalidInput, NotFound
from imagelake.ports import DeadLetter, Message

CLAIMABLE = (
    "SELECT id, body_id, lo, hi, pending, receive_count, sent_at, visible_at FROM messages "
    "WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, id LIMIT ?"
)
CLAIM = (
    "UPDATE messages SET lo = ?, hi = ?, pending = ?, waiting = ?, visible_at = ?, "
    "receive_count = receive_count + 1, receipt = ? WHERE id = ?"
)
FIRST_PAUSE, LONGEST_PAUSE = 0.05, 0.2


@dataclass
class _Send:
    bodies: list[bytes]
    sent_at: float
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
            # Builds with SECURE_DELETE (Debian's) zero every freed page: each acked batch's
            # bodies would be written out twice more. The events live on in the lake anyway.
            self._conn.execute("PRAGMA secure_delete = FAST")
            self._conn.execute("PRAGMA temp_store = MEMORY")
            with self._lock, self._transaction(durable=True) as conn:
                runs.create_schema(conn)

    def send(self, bodies: Sequence[bytes]) -> None:
        if not bodies:
            return
        mine = _Send([bytes(body) for body in bodies], time.time())
        with self._sends_lock:
            self._sends.append(mine)
        with self._lock:
            if not mine.done:  # nobody took it along: commit everything waiting, mine included
                with self._sends_lock:
                    group, self._sends = self._sends, []
                try:
                    with self._transaction(durable=True) as conn:
                        for send in group:
                            runs.insert(conn, self.name, send.bodies, send.sent_at)
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
        by_receipt: dict[str, list[str]] = defaultdict(list)  # one receipt per claimed run
        for message in messages:
            by_receipt[message.receipt].append(message.message_id)
        if by_receipt:
            with self._write(durable=False) as conn:
                for receipt, message_ids in by_receipt.items():
                    held = runs.held(conn, receipt, message_ids)
                    if held is not None:
                        runs.finish(conn, held)

    def retry(self, message: Message, delay: float) -> None:
        if delay < 0:
            raise InvalidInput("delay must be >= 0")
        with self._write(durable=False) as conn:
            held = runs.held(conn, message.receipt, [message.message_id])
            if held is not None:
                runs.postpone(conn, self.name, held, time.time() + delay)

    def dead_letter(self, message: Message, reason: str) -> None:
        with self._write() as conn:
            held = runs.held(conn, message.receipt, [message.message_id])
            if held is None:
                return
            [body] = runs.bodies(conn, held.body_id, held.chosen)
            conn.execute(
                "INSERT INTO dead_letters (queue, body, reason, attempts, sent_at, dead_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (self.name, body, reason, held.receive_count, held.sent_at, time.time()),
            )
            runs.finish(conn, held)

    def depth(self) -> int:
        with self._read() as conn:
            sql = "SELECT coalesce(sum(waiting), 0) FROM messages WHERE queue = ?"
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
        wanted = None if dead_letter_id is None else runs.number(dead_letter_id)
        if dead_letter_id is not None and wanted is None:
            raise NotFound(f"no dead letter {dead_letter_id!r} in queue {self.name}")
        which = (self.name, wanted, wanted)
        with self._write() as conn:
            bodies = [
                row[0]
                for row in conn.execute(
                    "SELECT body FROM dead_letters WHERE queue = ? AND (? IS NULL OR id = ?) "
                    "ORDER BY id",
                    which,
                )
            ]
            if dead_letter_id is not None and not bodies:
                raise NotFound(f"no dead letter {dead_letter_id!r} in queue {self.name}")
            if bodies:
                runs.insert(conn, self.name, bodies, time.time())
            conn.execute(
                "DELETE FROM dead_letters WHERE queue = ? AND (? IS NULL OR id = ?)", which
            )
        return len(bodies)

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
        token = secrets.token_hex(16)
        until = now + visibility_timeout
        messages: list[Message] = []
        with self._write(durable=False) as conn:
            claims = []
            wanted = max_messages
            for row in conn.execute(CLAIMABLE, (self.name, now, max_messages)).fetchall():
                run_id, body_id, lo, hi, pending, count, sent_at, visible_at = row
                indices = runs.indices(lo, hi, pending)
                if len(indices) > wanted:  # the rest stays behind, a run of its own
                    indices, rest = indices[:wanted], indices[wanted:]
                    runs.add_run(conn, self.name, body_id, rest, sent_at, visible_at, count)
                receipt = f"{run_id}.{token}"
                tight = (indices[0], indices[-1] + 1, runs.pending(indices), len(indices))
                claims.append((*tight, until, receipt, run_id))
                bodies = runs.bodies(conn, body_id, indices)
                messages += [
                    Message(f"{body_id}.{index}", body, receipt, count + 1, sent_at)
                    for index, body in zip(indices, bodies, strict=True)
                ]
                wanted -= len(indices)
                if not wanted:
                    break
            conn.executemany(CLAIM, claims)
        return messages

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


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise BackendError(f"queue database error: {exc}") from exc
