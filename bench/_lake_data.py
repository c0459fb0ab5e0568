"""A synthetic raw event archive, written straight into the lake layout the monitor uses.

Lines are byte-for-byte what `services.archive.archive_line` writes (same fields, same
order, compact ASCII JSON), one object per batch, a few batches per hour partition; 1 in
100 events is redelivered in a later batch. DuckDB makes each day's lines as one column of
JSON text, numpy cuts it into batch files: no Python loop per event.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

BATCHES_PER_HOUR = 4
REDELIVERED_EVERY = 100


@dataclass(frozen=True)
class Shape:
    events: int
    images: int
    users: int
    days: int
    start: date = date(2024, 1, 1)
    generator: int = 2  # bump when the lines change, so kept archives are rewritten

    @property
    def marker(self) -> str:
        return json.dumps({k: str(v) for k, v in asdict(self).items()}, sort_keys=True)


def _line_sql(day: date, first: int, count: int, shape: Shape) -> str:
    # Traffic is skewed: image i is requested ~ (i/images)^-1/2 often, users ~ ^-1/3.
    ts = "strftime(DATE '{day}' + to_seconds(sec), '%Y-%m-%dT%H:%M:%S+00:00')"
    received = (
        "strftime(DATE '{day}' + to_seconds(sec + 1 + 30 * copy) + to_microseconds("
        "(hash(i, copy) % 1000000)::BIGINT), '%Y-%m-%dT%H:%M:%S.%f+00:00')"
    )
    raw = (
        '\'{{\\"event_name\\":\\"IMAGE_REQUESTED\\",\\"user_id\\":\\"\' || user_id || '
        '\'\\",\\"image_id\\":\\"\' || image_id || \'\\",\\"timestamp\\":\\"\' || ts || '
        "'\\\"}}'"
    )
    sql = f"""
WITH base AS (
  SELECT i, ((i - {first}) * 86400) // {count} AS sec,
    CAST(pow((hash(i, 'img') % 1000003) / 1000003.0, 2) * {shape.images} AS BIGINT) AS img,
    CAST(pow((hash(i, 'usr') % 1000003) / 1000003.0, 1.5) * {shape.users} AS BIGINT)::VARCHAR
      AS user_id
  FROM range({first}, {first + count}) t(i)
), events AS (
  SELECT i, sec, user_id, image_id, {ts} AS ts FROM base JOIN images USING (img)
), copies AS (
  SELECT i, sec, 0 AS copy, user_id, image_id, ts FROM events
  UNION ALL
  SELECT i, sec, 1, user_id, image_id, ts FROM events  -- received 30 s later
  WHERE hash(i, 'again') % {REDELIVERED_EVERY} = 0
)
SELECT (sec // 3600)::INT AS hour,
  '{{"key":"sha256:' || md5(i::VARCHAR) || md5(ts) || '","received_at":"' || {received} ||
  '","event_name":"IMAGE_REQUESTED","user_id":"' || user_id || '","image_id":"' || image_id ||
  '","timestamp":"' || ts || '","event_id":null,"raw":"' || {raw} || '"}}' || chr(10) AS line
FROM copies ORDER BY sec, i, copy"""
    return sql.replace("{day}", str(day)).replace("{{", "{").replace("}}", "}")


def generate(root: Path, shape: Shape) -> tuple[int, int]:
    """Write the archive under root (a LocalBlobStore root); (lines, files) written."""
    con = duckdb.connect(config={"threads": 2})
    con.execute(
        "CREATE TABLE images AS SELECT i AS img, "
        "h[1:8] || '-' || h[9:12] || '-' || h[13:16] || '-' || h[17:20] || '-' || h[21:32] "
        f"AS image_id FROM (SELECT i, md5('image-' || i) AS h FROM range({shape.images}) t(i))"
    )
    weekly = np.array([1 + 0.3 * math.sin(2 * math.pi * d / 7) for d in range(shape.days)])
    per_day = np.floor(weekly / weekly.sum() * shape.events).astype(np.int64)
    per_day[-1] += shape.events - per_day.sum()
    first = np.concatenate([[0], np.cumsum(per_day)[:-1]])
    lines = files = 0
    batch_ns = time.time_ns()
    for d in range(shape.days):
        day = shape.start + timedelta(days=d)
        table = con.sql(_line_sql(day, int(first[d]), int(per_day[d]), shape)).to_arrow_table()
        hours = table.column("hour").to_numpy()
        column = table.column("line").combine_chunks().cast(pa.large_string())
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int64)[: len(column) + 1]
        data = memoryview(column.buffers()[2])  # every line back to back: cut, never copied
        bounds = np.searchsorted(hours, np.arange(25))
        for hour in range(24):
            folder = root / f"events/raw/event_name=IMAGE_REQUESTED/dt={day}/hour={hour:02d}"
            cuts = np.linspace(bounds[hour], bounds[hour + 1], BATCHES_PER_HOUR + 1).astype(int)
            for b in range(BATCHES_PER_HOUR):
                if cuts[b] == cuts[b + 1]:
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                batch_ns += 1
                name = f"{batch_ns}-{d * 100 + hour * 4 + b:08x}.jsonl"
                (folder / name).write_bytes(data[offsets[cuts[b]] : offsets[cuts[b + 1]]])
                files += 1
        lines += len(column)
    con.close()
    return lines, files
