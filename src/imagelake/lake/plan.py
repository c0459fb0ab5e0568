"""The SQL sources of one lake query: compacted parts plus the raw batches no part covers yet.

Parts are deduplicated by compaction. Uncovered raw lines are deduplicated among themselves
and against the part of their own partition: an event's key fixes its bytes, hence its
timestamp, hence its partition, so no event can be counted twice.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagelake.lake.files import (
    IMAGE_KEY,
    USER_KEY,
    PartFiles,
    deduped_sql,
    gather,
    parts_sql,
    raw_sql,
)
from imagelake.lake.layout import LakeSnapshot
from imagelake.ports import BlobStore

EVENT = 'user_key, image_key, user_id, image_id, "timestamp", variant'
NO_EVENTS = (
    "SELECT NULL::BIGINT AS user_key, NULL::BIGINT AS image_key, NULL::VARCHAR AS user_id, "
    'NULL::VARCHAR AS image_id, NULL::TIMESTAMP AS "timestamp", NULL::VARCHAR AS variant '
    "WHERE false"
)


@dataclass(frozen=True)
class Piece:
    """A SELECT of EVENT columns and the parameters it binds."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)


def union(pieces: list[Piece]) -> Piece:
    if not pieces:
        return Piece(NO_EVENTS)
    params: dict[str, Any] = {}
    for piece in pieces:
        params |= piece.params
    return Piece(" UNION ALL ".join(p.sql for p in pieces), params)


@dataclass(frozen=True)
class Plan:
    """Local files of one snapshot: parts (newest last), uncovered raw lines, overlaps."""

    parts: list[str]  # fingerprints made by this DuckDB
    stale_parts: list[str]  # fingerprints recomputed on read
    fresh: list[str] | None  # local JSONL files of the uncovered raw batches (see gather)
    overlap: list[str]  # parts of the partitions that also have uncovered batches

    def pieces(self) -> list[Piece]:
        """Every event once, as few scans as possible."""
        pieces = []
        if self.parts:
            pieces.append(_parts_piece("parts", self.parts, stale=False))
        if self.stale_parts:
            pieces.append(_parts_piece("stale", self.stale_parts, stale=True))
        if self.fresh is not None:
            pieces.append(self._fresh_piece())
        return pieces

    def newest_first(self) -> list[Piece]:
        """The same events as pieces(), one piece per file, newest first (for id lookups)."""
        pieces = [self._fresh_piece()] if self.fresh is not None else []
        files = [(p, False) for p in self.parts] + [(p, True) for p in self.stale_parts]
        files.sort(key=lambda item: item[0], reverse=True)  # dt=YYYY-MM-DD sorts by date
        for n, (path, stale) in enumerate(files):
            pieces.append(_parts_piece(f"part{n}", [path], stale))
        return pieces

    def _fresh_piece(self) -> Piece:
        sql = f"SELECT * FROM ({deduped_sql(raw_sql('$fresh'))})"
        params: dict[str, Any] = {"fresh": self.fresh}
        if self.overlap:
            sql += " ANTI JOIN (SELECT key FROM read_parquet($overlap)) USING (key)"
            params["overlap"] = self.overlap
        return Piece(f"SELECT {EVENT} FROM ({sql})", params)


def _parts_piece(name: str, paths: list[str], stale: bool) -> Piece:
    """The parts' events; a part compacted before the variant column has NULL in it."""
    if stale:
        columns = (
            f"{USER_KEY} AS user_key, {IMAGE_KEY} AS image_key, "
            'user_id, image_id, "timestamp", variant'
        )
    else:
        columns = EVENT
    return Piece(f"SELECT {columns} FROM ({parts_sql('$' + name)})", {name: paths})


@contextmanager
def open_plan(
    store: BlobStore, parts: PartFiles, snap: LakeSnapshot, fingerprint: int
) -> Iterator[Plan]:
    """Fetch what a snapshot names into local files, for the duration of one query."""
    with tempfile.TemporaryDirectory(prefix="imagelake-query-") as tmp:
        fresh = None
        if snap.fresh:
            fresh = gather(store, snap.fresh_keys(), Path(tmp) / "fresh.jsonl")
        current = [m.part_key(p) for p, m in sorted(snap.manifests.items())]
        stale = [
            m.part_key(p) for p, m in sorted(snap.manifests.items()) if m.fingerprint != fingerprint
        ]
        current = [key for key in current if key not in stale]
        parts.prune(current + stale)
        yield Plan(
            parts=parts.paths(current),
            stale_parts=parts.paths(stale),
            fresh=fresh,
            overlap=parts.paths(snap.overlap_part_keys()),
        )
