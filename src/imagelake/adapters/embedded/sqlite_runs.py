"""The storage of SqliteQueue: runs of messages over shared body rows (see sqlite_queue).

A run covers the indices `lo` <= i < `hi` of one `message_bodies` row, all of them when
`pending` is NULL, else the JSON list it holds; `waiting` counts them. Every run is kept
tight: `lo` is its first index and `hi` one past its last.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import NamedTuple

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS message_bodies (
        id INTEGER PRIMARY KEY AUTOINCREMENT, lengths TEXT NOT NULL, data BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY, queue TEXT NOT NULL, body_id INTEGER NOT NULL,
        lo INTEGER NOT NULL, hi INTEGER NOT NULL, pending TEXT, waiting INTEGER NOT NULL,
        sent_at REAL NOT NULL, visible_at REAL NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT)""",
    "CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at, id)",
    "CREATE INDEX IF NOT EXISTS messages_by_body ON messages (body_id)",
    """CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body BLOB NOT NULL,
        reason TEXT NOT NULL, attempts INTEGER NOT NULL, sent_at REAL NOT NULL,
        dead_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS dead_letters_by_queue ON dead_letters (queue, dead_at, id)",
)

# Queue files from before runs kept a row per message: each becomes a run of one.
FROM_ROW_PER_MESSAGE = (
    "ALTER TABLE messages RENAME TO messages_v1",
    "DROP INDEX IF EXISTS messages_visible",
    *SCHEMA,
    "INSERT INTO message_bodies (id, lengths, data) SELECT id, "
    "json_array(length(CAST(body AS BLOB))), CAST(body AS BLOB) FROM messages_v1",
    "INSERT INTO messages (queue, body_id, lo, hi, waiting, sent_at, visible_at, receive_count) "
    "SELECT queue, id, 0, 1, 1, sent_at, visible_at, receive_count FROM messages_v1",
    "DROP TABLE messages_v1",
)

INSERT_RUN = (
    "INSERT INTO messages (queue, body_id, lo, hi, pending, waiting, sent_at, visible_at, "
    "receive_count, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class Held(NamedTuple):
    """Messages of one run, as held by the receipt they were claimed with."""

    run_id: int
    body_id: int
    waiting: list[int]  # every index of the run still waiting
    chosen: list[int]  # the ones asked for, among them
    receive_count: int
    sent_at: float


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables, or bring a file of the row-per-message layout over; in a transaction."""
    sql = "SELECT 1 FROM pragma_table_info('messages') WHERE name = 'body'"
    old = conn.execute(sql).fetchone() is not None
    for statement in FROM_ROW_PER_MESSAGE if old else SCHEMA:
        conn.execute(statement)


def insert(conn: sqlite3.Connection, queue: str, bodies: Sequence[bytes], sent_at: float) -> None:
    """Store messages sent together: one body row, one run."""
    lengths = "[" + ",".join([str(len(body)) for body in bodies]) + "]"
    cursor = conn.execute(
        "INSERT INTO message_bodies (lengths, data) VALUES (?, ?)", (lengths, b"".join(bodies))
    )
    add_run(conn, queue, _lastrowid(cursor), range(len(bodies)), sent_at, sent_at, 0)


def add_run(
    conn: sqlite3.Connection,
    queue: str,
    body_id: int,
    indices: Sequence[int],
    sent_at: float,
    visible_at: float,
    receive_count: int,
) -> None:
    lo, hi = indices[0], indices[-1] + 1
    row = (queue, body_id, lo, hi, pending(indices), len(indices), sent_at, visible_at)
    conn.execute(INSERT_RUN, (*row, receive_count, None))


def indices(lo: int, hi: int, pending_json: str | None) -> list[int]:
    """The indices a run still holds."""
    if pending_json is None:
        return list(range(lo, hi))
    listed: list[int] = json.loads(pending_json)
    return listed


def pending(indices: Sequence[int]) -> str | None:
    """The `pending` column of a tight run of these (sorted, distinct) indices."""
    if indices[-1] - indices[0] + 1 == len(indices):
        return None
    return json.dumps(list(indices), separators=(",", ":"))


def bodies(conn: sqlite3.Connection, body_id: int, wanted: Sequence[int]) -> list[bytes]:
    """The bodies at these (sorted) indices of a body row, reading only the bytes they span."""
    row = conn.execute("SELECT lengths FROM message_bodies WHERE id = ?", (body_id,)).fetchone()
    if row is None:
        raise sqlite3.DatabaseError(f"message body row {body_id} is missing")
    offsets = list(accumulate(json.loads(row[0]), initial=0))
    start, end = offsets[wanted[0]], offsets[wanted[-1] + 1]
    with conn.blobopen("message_bodies", "data", body_id, readonly=True) as blob:
        blob.seek(start)
        data = blob.read(end - start)
    return [data[offsets[i] - start : offsets[i + 1] - start] for i in wanted]


def held(conn: sqlite3.Connection, receipt: str, message_ids: Iterable[str]) -> Held | None:
    """The run a receipt holds and which of these messages it still holds; None if none."""
    run_id = number(receipt.partition(".")[0])
    if run_id is None:
        return None
    row = conn.execute(
        "SELECT body_id, lo, hi, pending, receive_count, sent_at FROM messages "
        "WHERE id = ? AND receipt = ?",
        (run_id, receipt),
    ).fetchone()
    if row is None:
        return None
    body_id, lo, hi, pending_json, receive_count, sent_at = row
    asked = set(message_ids)
    waiting = indices(lo, hi, pending_json)
    chosen = [index for index in waiting if f"{body_id}.{index}" in asked]
    return Held(run_id, body_id, waiting, chosen, receive_count, sent_at) if chosen else None


def finish(conn: sqlite3.Connection, run: Held) -> None:
    """Take the chosen messages out of their run; the last one out deletes it (and its bodies)."""
    left = []
    if len(run.chosen) < len(run.waiting):
        chosen = set(run.chosen)
        left = [index for index in run.waiting if index not in chosen]
    if left:
        conn.execute(
            "UPDATE messages SET lo = ?, hi = ?, pending = ?, waiting = ? WHERE id = ?",
            (left[0], left[-1] + 1, pending(left), len(left), run.run_id),
        )
        return
    conn.execute("DELETE FROM messages WHERE id = ?", (run.run_id,))
    conn.execute(
        "DELETE FROM message_bodies WHERE id = ?1 "
        "AND NOT EXISTS (SELECT 1 FROM messages WHERE body_id = ?1)",
        (run.body_id,),
    )


def postpone(conn: sqlite3.Connection, queue: str, run: Held, visible_at: float) -> None:
    """Make the chosen messages visible again at visible_at, the rest of their run unchanged."""
    if len(run.chosen) == len(run.waiting):
        conn.execute("UPDATE messages SET visible_at = ? WHERE id = ?", (visible_at, run.run_id))
        return
    finish(conn, run)
    add_run(conn, queue, run.body_id, run.chosen, run.sent_at, visible_at, run.receive_count)


def number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _lastrowid(cursor: sqlite3.Cursor) -> int:
    if cursor.lastrowid is None:
        raise sqlite3.DatabaseError("no row id for the inserted message bodies")
    return cursor.lastrowid
