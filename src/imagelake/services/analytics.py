"""Questions to the event lake: requests per day, top images, top users, a summary.

Every query reads the compacted Parquet parts plus the raw batches no part covers yet, so the
numbers are complete the moment an event is archived. Parts are deduplicated by compaction;
uncovered raw lines are deduplicated among themselves and against the part of their own
partition (an event's key fixes its timestamp, hence its partition), so nothing counts twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from imagelake.domain.errors import BackendError, InvalidInput
from imagelake.domain.events import EventName
from imagelake.ports import BlobStore
from imagelake.services.lake_files import (
    FIRST_OF_EACH_KEY,
    LakeFiles,
    connect,
    duckdb_errors,
    raw_events_sql,
)
from imagelake.services.lake_layout import snapshot

log = logging.getLogger(__name__)
MAX_TOP = 1000
EVENT = 'user_id, image_id, "timestamp"'
NO_EVENTS = (
    'SELECT NULL::VARCHAR AS user_id, NULL::VARCHAR AS image_id, NULL::TIMESTAMP AS "timestamp" '
    "WHERE false"
)


class GroupBy(StrEnum):
    day = "day"
    image = "image"
    user = "user"


@dataclass(frozen=True)
class DayRow:
    day: date
    requests: int
    unique_users: int
    unique_images: int


@dataclass(frozen=True)
class ImageRow:
    image_id: str
    requests: int
    unique_users: int
    last_requested_at: datetime


@dataclass(frozen=True)
class UserRow:
    user_id: str
    requests: int
    unique_images: int
    last_requested_at: datetime


Row = DayRow | ImageRow | UserRow


@dataclass(frozen=True)
class Summary:
    requests: int
    images: int
    users: int
    first_request_at: datetime | None
    last_request_at: datetime | None


@dataclass(frozen=True)
class Filters:
    since: date | None = None
    until: date | None = None
    image_id: str | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise InvalidInput(f"since ({self.since}) is after until ({self.until})")


BY_DAY = """
SELECT CAST("timestamp" AS DATE) AS day, count(*) AS requests,
       count(DISTINCT user_id) AS unique_users, count(DISTINCT image_id) AS unique_images
FROM events GROUP BY day ORDER BY day"""

# Rank on the cheap count first, then count distinct users for the winners only.
TOP_IMAGES = """
, ranked AS (
  SELECT image_id, count(*) AS requests FROM events
  GROUP BY image_id ORDER BY requests DESC, image_id LIMIT $top)
SELECT image_id, any_value(ranked.requests) AS requests, count(DISTINCT user_id),
       max("timestamp")
FROM events JOIN ranked USING (image_id)
GROUP BY image_id ORDER BY requests DESC, image_id"""

TOP_USERS = """
, ranked AS (
  SELECT user_id, count(*) AS requests FROM events
  GROUP BY user_id ORDER BY requests DESC, user_id LIMIT $top)
SELECT user_id, any_value(ranked.requests) AS requests, count(DISTINCT image_id),
       max("timestamp")
FROM events JOIN ranked USING (user_id)
GROUP BY user_id ORDER BY requests DESC, user_id"""

SUMMARY = """
SELECT count(*), count(DISTINCT image_id), count(DISTINCT user_id),
       min("timestamp"), max("timestamp")
FROM events"""


class Analytics:
    def __init__(self, archive: BlobStore, cache_dir: Path, threads: int | None = None) -> None:
        self._archive = archive
        self._files = LakeFiles(archive, cache_dir)
        self._threads = threads

    def requests(self, by: GroupBy, filters: Filters, top: int = 10) -> list[Row]:
        """Requests grouped by day (every day in range) or the top images or users."""
        if not 1 <= top <= MAX_TOP:
            raise InvalidInput(f"top must be between 1 and {MAX_TOP}")
        if by == GroupBy.day:
            return [DayRow(*r) for r in self._query(BY_DAY, filters)]
        if by == GroupBy.image:
            rows = self._query(TOP_IMAGES, filters, {"top": top})
            return [ImageRow(r[0], r[1], r[2], _utc(r[3])) for r in rows]
        rows = self._query(TOP_USERS, filters, {"top": top})
        return [UserRow(r[0], r[1], r[2], _utc(r[3])) for r in rows]

    def summary(self, filters: Filters) -> Summary:
        ((requests, images, users, first, last),) = self._query(SUMMARY, filters)
        return Summary(requests, images, users, _opt_utc(first), _opt_utc(last))

    def _query(
        self, sql: str, filters: Filters, params: dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        try:
            return self._run(sql, filters, params or {})
        except BackendError as exc:
            # A compaction may have replaced a part between the snapshot and the read.
            log.info("lake query retried after: %s", exc)
            return self._run(sql, filters, params or {})

    def _run(self, sql: str, filters: Filters, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        events, source_params = self._events(filters)
        con = connect(self._threads)
        try:
            with duckdb_errors("lake query"):
                rows = con.execute(f"WITH events AS ({events}){sql}", params | source_params)
                return rows.fetchall()
        finally:
            con.close()

    def _events(self, filters: Filters) -> tuple[str, dict[str, Any]]:
        """SQL of every distinct request in range, and the file lists it reads."""
        snap = snapshot(self._archive, EventName.IMAGE_REQUESTED, filters.since, filters.until)
        part_keys, fresh_keys = snap.part_keys(), snap.fresh_keys()
        self._files.prune(part_keys + fresh_keys)
        params: dict[str, Any] = {}
        pieces = []
        if part_keys:
            params["parts"] = self._files.paths(part_keys)
            pieces.append(f"SELECT {EVENT} FROM read_parquet($parts)")
        if fresh_keys:
            params["fresh"] = self._files.paths(fresh_keys)
            fresh = f"SELECT * FROM ({raw_events_sql('$fresh')}) {FIRST_OF_EACH_KEY}"
            if overlap := snap.overlap_part_keys():
                params["overlap"] = self._files.paths(overlap)
                fresh = (
                    f"SELECT * FROM ({fresh}) ANTI JOIN "
                    f"(SELECT key FROM read_parquet($overlap)) USING (key)"
                )
            pieces.append(f"SELECT {EVENT} FROM ({fresh})")
        union = " UNION ALL ".join(pieces) or NO_EVENTS
        if filters.image_id is None:
            return union, params
        params["image_id"] = filters.image_id
        return f"SELECT * FROM ({union}) WHERE image_id = $image_id", params


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)
