"""Questions to the event lake: requests per day, top images, users, variants, a summary.

Numbers are complete the moment an event is archived: every query reads the compacted
parts plus the raw batches no part covers yet (see lake/plan.py); a batch DuckDB cannot read
is quarantined (lake/quarantine.py) and the question asked again. Images and users are
grouped by 63-bit fingerprints of their ids (cheaper than grouping strings); two ids
sharing one is about as likely as a 1-in-10^8 event at a million distinct ids. Variants are
few, and grouped by name; requests whose event named none count as UNKNOWN_VARIANT.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from imagelake.domain.errors import BackendError, InvalidInput, UnreadableData
from imagelake.domain.events import EventName
from imagelake.lake.files import (
    PartFiles,
    fingerprint,
)
from imagelake.lake.layout import LakeSnapshot, Manifest, snapshot
from imagelake.lake.plan import Piece, Plan, open_plan, union
from imagelake.lake.quarantine import UNANSWERABLE, Quarantine
from imagelake.lake.reports import (
    MAX_TOP,
    UNKNOWN_VARIANT,
    DayRow,
    Filters,
    GroupBy,
    ImageRow,
    Row,
    Summary,
    UserRow,
    VariantRow,
)
from imagelake.ports import BlobStore, LakeConnection, LakeEngine

log = logging.getLogger(__name__)
MANIFESTS_KEPT = 50_000  # about 140 years of days
T = TypeVar("T")


BY_DAY = """
SELECT CAST("timestamp" AS DATE) AS day, count(*), count(DISTINCT user_key),
       count(DISTINCT image_key)
FROM events GROUP BY day"""
RANK = """
SELECT {key} AS k, count(*) AS requests FROM events
GROUP BY k ORDER BY requests DESC, k LIMIT $top"""
# Distinct counts only for the winners: a filtered second scan beats a distinct over all.
DETAIL = """
SELECT {key}, count(DISTINCT {other}), max("timestamp") FROM events
WHERE {key} IN (SELECT unnest($keys)) GROUP BY {key}"""
RESOLVE = """
SELECT DISTINCT {key}, {id} FROM events WHERE {key} IN (SELECT unnest($keys))"""
VARIANT_KEY = f"coalesce(variant, '{UNKNOWN_VARIANT}')"
VARIANT_DETAIL = f"""
SELECT {VARIANT_KEY} AS k, count(DISTINCT user_key), count(DISTINCT image_key), max("timestamp")
FROM events WHERE {VARIANT_KEY} IN (SELECT unnest($keys)) GROUP BY k"""
SUMMARY = """
SELECT count(*), count(DISTINCT image_key), count(DISTINCT user_key),
       min("timestamp"), max("timestamp")
FROM events"""


class Analytics:
    def __init__(
        self, archive: BlobStore, engine: LakeEngine, cache_dir: Path, threads: int | None = None
    ) -> None:
        self._archive = archive
        self._engine = engine
        self._parts = PartFiles(archive, cache_dir)
        self._threads = threads
        self._manifests: dict[str, Manifest] = {}
        self._quarantine = Quarantine(archive)

    @functools.cached_property
    def _fingerprint(self) -> int:
        return self._engine.fingerprint_probe()  # on first use: it starts the engine

    def requests(self, by: GroupBy, filters: Filters, top: int = 10) -> list[Row]:
        """Requests per day (every day with requests), or the top images, users or variants."""
        if by == GroupBy.day:
            return list(self.by_day(filters))
        if by == GroupBy.image:
            return list(self.top_images(filters, top))
        if by == GroupBy.variant:
            return list(self.top_variants(filters, top))
        return list(self.top_users(filters, top))

    def by_day(self, filters: Filters) -> list[DayRow]:
        return self._retrying(lambda: self._by_day(filters), filters)

    def top_images(self, filters: Filters, top: int = 10) -> list[ImageRow]:
        rows = self._retrying(
            lambda: self._top("image_key", "user_key", "image_id", filters, top), filters
        )
        return [ImageRow(*row) for row in rows]

    def top_users(self, filters: Filters, top: int = 10) -> list[UserRow]:
        rows = self._retrying(
            lambda: self._top("user_key", "image_key", "user_id", filters, top), filters
        )
        return [UserRow(*row) for row in rows]

    def top_variants(self, filters: Filters, top: int = 10) -> list[VariantRow]:
        return self._retrying(lambda: self._top_variants(filters, top), filters)

    def summary(self, filters: Filters) -> Summary:
        def run() -> Summary:
            with self._session(self._snapshot(filters), filters) as session:
                ((count, images, users, first, last),) = session.run(SUMMARY)
            return Summary(count, images, users, _maybe_utc(first), _maybe_utc(last))

        return self._retrying(run, filters)

    def _by_day(self, filters: Filters) -> list[DayRow]:
        snap = self._snapshot(filters)
        rows: dict[date, DayRow] = {}
        if filters.image_id is None:  # a compacted day's totals are in its manifest
            for p, m in snap.manifests.items():
                if p not in snap.fresh:
                    rows[p.dt] = DayRow(p.dt, m.events, m.users, m.images)
            snap = snap.only(p for p in {*snap.manifests, *snap.fresh} if p.dt not in rows)
        if snap.manifests or snap.fresh:
            with self._session(snap, filters) as session:
                for day, *counts in session.run(BY_DAY):
                    rows[_answerable(day, date)] = DayRow(day, *counts)
        return [rows[day] for day in sorted(rows)]

    def _top(
        self, key: str, other: str, id_column: str, filters: Filters, top: int
    ) -> list[tuple[str, int, int, datetime]]:
        """(id, requests, distinct others, last request) of the top ids by requests."""
        _check_top(top)
        with self._session(self._snapshot(filters), filters) as session:
            ranked = session.run(RANK.format(key=key), {"top": top})
            keys = [k for k, _ in ranked]
            if not keys:
                return []
            detail_sql = DETAIL.format(key=key, other=other)
            detail = {k: (n, last) for k, n, last in session.run(detail_sql, {"keys": keys})}
            ids = _resolve(session, key, id_column, keys)
        return [(_answerable(ids[k], str), n, detail[k][0], _utc(detail[k][1])) for k, n in ranked]

    def _top_variants(self, filters: Filters, top: int) -> list[VariantRow]:
        """The top variants by requests, with distinct users and images, and last request."""
        _check_top(top)
        with self._session(self._snapshot(filters), filters) as session:
            ranked = session.run(RANK.format(key=VARIANT_KEY), {"top": top})
            if not ranked:
                return []
            found = session.run(VARIANT_DETAIL, {"keys": [k for k, _ in ranked]})
        detail = {k: (users, images, last) for k, users, images, last in found}
        return [
            VariantRow(_answerable(k, str), n, detail[k][0], detail[k][1], _utc(detail[k][2]))
            for k, n in ranked
        ]

    def _snapshot(self, filters: Filters) -> LakeSnapshot:
        name, since, until = EventName.IMAGE_REQUESTED, filters.since, filters.until
        snap = snapshot(self._archive, name, since, until, self._manifests)
        if len(self._manifests) > MANIFESTS_KEPT:
            self._manifests = {}
        self._manifests |= {m.part_key(p): m for p, m in snap.manifests.items()}
        return snap

    @contextmanager
    def _session(self, snap: LakeSnapshot, filters: Filters) -> Iterator[Session]:
        with open_plan(self._archive, self._parts, snap, self._fingerprint) as plan:
            con = self._engine.connect(self._threads)
            try:
                yield Session(con, plan, filters)
            finally:
                con.close()

    def _retrying(self, run: Callable[[], T], filters: Filters) -> T:
        try:
            return run()
        except UnreadableData as exc:
            log.warning("lake query failed on its data, looking for a bad batch: %s", exc)
            self._quarantine_unreadable(filters)
        except BackendError as exc:
            # A compaction may have replaced a part between the snapshot and the read.
            log.info("lake query retried after: %s", exc)
        return run()

    def _quarantine_unreadable(self, filters: Filters) -> None:
        """Read each uncovered raw batch alone, and set aside those DuckDB cannot read."""
        keys = self._snapshot(filters).fresh_keys()
        if keys:
            con = self._engine.connect(1)
            try:
                self._quarantine.isolate(con, keys)
            finally:
                con.close()


def _check_top(top: int) -> None:
    if not 1 <= top <= MAX_TOP:
        raise InvalidInput(f"top must be between 1 and {MAX_TOP}")


def _answerable(value: object, kind: type[T]) -> T:
    """value, if it is a kind: DuckDB hands out NULL, or text for a time Python cannot hold."""
    if not isinstance(value, kind):
        raise UnreadableData(f"lake query: {UNANSWERABLE}")
    return value


def _utc(value: object) -> datetime:
    return _answerable(value, datetime).replace(tzinfo=UTC)


def _maybe_utc(value: object) -> datetime | None:
    return None if value is None else _utc(value)


@dataclass(frozen=True)
class Session:
    """One query's DuckDB connection, files and filters."""

    con: LakeConnection
    plan: Plan
    filters: Filters

    def run(
        self, sql: str, params: dict[str, Any] | None = None, pieces: list[Piece] | None = None
    ) -> list[tuple[Any, ...]]:
        """sql over a CTE `events` of every event (or of pieces) that passes the filters."""
        events = union(self.plan.pieces() if pieces is None else pieces)
        bound = events.params | (params or {})
        where = ""
        if self.filters.image_id is not None:
            # The fingerprint narrows the scan cheaply; the id itself keeps it exact.
            where = f" WHERE image_key = {fingerprint('$image_id::VARCHAR')}"
            where += " AND image_id = $image_id"
            bound["image_id"] = self.filters.image_id
        statement = f"WITH events AS (SELECT * FROM ({events.sql}){where}){sql}"
        try:
            return self.con.execute(statement, bound)
        except BackendError as exc:
            raise type(exc)(f"lake query: {exc}") from exc


def _resolve(session: Session, key: str, id_column: str, keys: list[int]) -> dict[int, str]:
    """Ids of fingerprints, looked up in the newest files first (ranked ids are frequent)."""
    found: dict[int, str] = {}
    pieces, size = session.plan.newest_first(), 1
    while pieces and len(found) < len(keys):
        chunk, pieces = pieces[:size], pieces[size:]
        missing = [k for k in keys if k not in found]
        found |= dict(session.run(RESOLVE.format(key=key, id=id_column), {"keys": missing}, chunk))
        size *= 2
    return found
