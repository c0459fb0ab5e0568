"""Catalog in one SQLite file (WAL): safe across threads and across worker processes."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imagelake.adapters.composed import ComposedCatalog
from imagelake.adapters.cursors import decode_cursor, encode_cursor
from imagelake.adapters.embedded.sqlite_keys import KEYS_SCHEMA, SqliteKeys, migrate_keys
from imagelake.adapters.embedded.sqlite_stats import STATS_SCHEMA, SqliteStats
from imagelake.domain.errors import BackendError, Conflict, InvalidInput, NotFound
from imagelake.domain.images import Image, ImageStatus

IMAGES_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    image_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, content_type TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
    failure_reason TEXT, thumbnails TEXT NOT NULL, UNIQUE (owner, sha256));
"""
SCHEMA = (
    IMAGES_TABLE.format(name="images")
    + """
CREATE INDEX IF NOT EXISTS images_by_created ON images (created_at, image_id);
CREATE INDEX IF NOT EXISTS images_by_owner ON images (owner, created_at, image_id);
CREATE INDEX IF NOT EXISTS images_by_status ON images (status, created_at, image_id);
"""
)
# Catalogs from before owners deduplicated over everyone's images: sha256 alone was UNIQUE.
PER_OWNER_DEDUPE = (
    IMAGES_TABLE.format(name="images_per_owner"),
    "INSERT INTO images_per_owner SELECT * FROM images",
    "DROP TABLE images",
    "ALTER TABLE images_per_owner RENAME TO images",
)

IMAGE_COLUMNS = (
    "image_id, sha256, content_type, width, height, bytes, created_at, owner, status, "
    "failure_reason, thumbnails"
)


class SqliteCatalog(ComposedCatalog):
    def __init__(self, path: Path) -> None:
        self._path = path
        self._idle: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        # SQLite serialises writers anyway; queueing them here beats its sleep-and-retry.
        self._write_lock = threading.Lock()
        self._closed = False
        self._stats = SqliteStats(self._read, self._write)
        self._keys = SqliteKeys(self._read, self._write)
        with _translated():
            path.parent.mkdir(parents=True, exist_ok=True)
        with self._write() as conn:
            _migrate(conn)
        with _translated(), self._connection() as conn:
            conn.executescript(f"BEGIN IMMEDIATE; {SCHEMA} {KEYS_SCHEMA} {STATS_SCHEMA} COMMIT;")

    def add_image(self, image: Image) -> Image:
        row = _image_row(image)
        with self._write() as conn:
            inserted = conn.execute(
                f"INSERT INTO images ({IMAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT DO NOTHING",
                row,
            ).rowcount
            if inserted:
                return _image(row)
            existing = _one_image(conn, "owner = ? AND sha256 = ?", image.owner, image.sha256)
        if existing is None:
            raise Conflict(f"image {image.image_id} already exists")
        return existing

    def get_image(self, image_id: str) -> Image:
        with self._read() as conn:
            image = _one_image(conn, "image_id = ?", image_id)
        if image is None:
            raise NotFound(f"no image {image_id}")
        return image

    def find_by_sha256(self, owner: str, sha256: str) -> Image | None:
        with self._read() as conn:
            return _one_image(conn, "owner = ? AND sha256 = ?", owner, sha256)

    def save_image(self, image: Image) -> None:
        sets = ", ".join(f"{c} = ?" for c in IMAGE_COLUMNS.split(", ")[1:])
        row = _image_row(image)
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE images SET {sets} WHERE image_id = ?", (*row[1:], row[0])
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no image {image.image_id}")

    def delete_image(self, image_id: str) -> None:
        with self._write() as conn:
            if conn.execute("DELETE FROM images WHERE image_id = ?", (image_id,)).rowcount == 0:
                raise NotFound(f"no image {image_id}")

    def list_images(
        self, limit: int, cursor: str | None, owner: str | None = None
    ) -> tuple[list[Image], str | None]:
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        after: tuple[str, ...] = _after(cursor) if cursor else ()
        where = "(created_at, image_id) < (?, ?)" if cursor else "1"
        mine: tuple[str, ...] = ()
        if owner is not None:
            where, mine = f"owner = ? AND {where}", (owner,)
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {IMAGE_COLUMNS} FROM images WHERE {where} "
                "ORDER BY created_at DESC, image_id DESC LIMIT ?",
                (*mine, *after, limit + 1),
            ).fetchall()
        page = [_image(row) for row in rows[:limit]]
        if len(rows) <= limit:
            return page, None
        return page, encode_cursor(rows[limit - 1][6], rows[limit - 1][0])

    def images_with_status(self, status: ImageStatus, limit: int) -> list[Image]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {IMAGE_COLUMNS} FROM images WHERE status = ? "
                "ORDER BY created_at, image_id LIMIT ?",
                (str(status), limit),
            ).fetchall()
        return [_image(row) for row in rows]

    def close(self) -> None:
        with self._pool_lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with _translated(), self._connection() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with _translated(), self._write_lock, self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._pool_lock:
            if self._closed:
                raise BackendError("the catalog is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = _connect(self._path)
        try:
            yield conn
        finally:
            with self._pool_lock:
                keep = not self._closed and not conn.in_transaction
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA temp_store = MEMORY")  # record_requests' key list, not a temp file
    return conn


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"catalog constraint violated: {exc}") from exc
    except (sqlite3.Error, OSError) as exc:
        raise BackendError(f"catalog database error: {exc}") from exc


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a catalog from an older release up to SCHEMA, inside the opening transaction."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'images'").fetchone()
    if row is not None and "UNIQUE (owner, sha256)" not in row[0]:
        for statement in PER_OWNER_DEDUPE:
            conn.execute(statement)
    migrate_keys(conn)


def _one_image(conn: sqlite3.Connection, where: str, *values: str) -> Image | None:
    row = conn.execute(f"SELECT {IMAGE_COLUMNS} FROM images WHERE {where}", values).fetchone()
    return None if row is None else _image(row)


def _image_row(image: Image) -> tuple[Any, ...]:
    thumbnails = json.dumps({str(size): key for size, key in image.thumbnails.items()})
    return (
        image.image_id, image.sha256, image.content_type, image.width, image.height,
        image.bytes, _iso(image.created_at), image.owner, str(image.status),
        image.failure_reason, thumbnails,
    )  # fmt: skip


def _image(row: Sequence[Any]) -> Image:
    thumbnails = {int(size): key for size, key in json.loads(row[10]).items()}
    return Image(
        image_id=row[0], sha256=row[1], content_type=row[2], width=row[3], height=row[4],
        bytes=row[5], created_at=datetime.fromisoformat(row[6]), owner=row[7],
        status=ImageStatus(row[8]), failure_reason=row[9], thumbnails=thumbnails,
    )  # fmt: skip


def _iso(at: datetime) -> str:
    """Fixed-width UTC text, so that string order is time order."""
    if at.tzinfo is not UTC:
        at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    return at.isoformat(timespec="microseconds")


def _after(cursor: str) -> tuple[str, str]:
    created_at, image_id = decode_cursor(cursor)
    return _iso(created_at), image_id
