"""The event lake: compaction throughput and the report's three main queries.

A synthetic archive (default 10M events: 100k images, 10k users, 90 days, 1% redelivered)
is written straight into the raw layout (kept in bench/.data between runs). Then:

- compaction: `LakeCompactor.compact()` over all of it, raw JSONL -> deduplicated Parquet;
  target >= 1M events/s;
- queries: requests per day, top 10 images (with unique users), top 10 users, through
  `Analytics` over the compacted lake, best of 3; target < 1 s each. Two baselines from
  the same run: the same `Analytics` call before compaction (every raw JSONL line read),
  and the textbook DuckDB SQL over the same Parquet (GROUP BY the string ids).

`python -m bench.analytics [--events N] [--no-raw] [--regenerate]`
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from bench._lake_data import Shape, generate
from imagelake.adapters.embedded.duckdb_engine import DuckDBEngine
from imagelake.adapters.embedded.files import LocalBlobStore
from imagelake.domain.signing import Signer
from imagelake.lake.analytics import Analytics
from imagelake.lake.compaction import LakeCompactor
from imagelake.lake.files import RAW_COLUMNS
from imagelake.lake.reports import Filters

DATA = Path(__file__).parent / ".data" / "analytics"
COMPACTION_TARGET = 1_000_000  # events/s
QUERY_TARGET = 1.0  # seconds each
PLAIN_SQL = {
    "per day": 'SELECT CAST("timestamp" AS DATE) AS day, count(*), count(DISTINCT user_id), '
    "count(DISTINCT image_id) FROM read_parquet($parts) GROUP BY day ORDER BY day",
    "top images": 'SELECT image_id, count(*) AS n, count(DISTINCT user_id), max("timestamp") '
    "FROM read_parquet($parts) GROUP BY image_id ORDER BY n DESC, image_id LIMIT 10",
    "top users": 'SELECT user_id, count(*) AS n, count(DISTINCT image_id), max("timestamp") '
    "FROM read_parquet($parts) GROUP BY user_id ORDER BY n DESC, user_id LIMIT 10",
}


def timed(run: Callable[[], Any], rounds: int = 1) -> tuple[float, float, Any]:
    """(best wall seconds, CPU seconds of that round, result)."""
    best: tuple[float, float, Any] | None = None
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        took = (time.perf_counter() - wall, time.process_time() - cpu, result)
        best = took if best is None or took[0] < best[0] else best
    assert best is not None
    return best


def prepare(shape: Shape, regenerate: bool) -> LocalBlobStore:
    root = DATA / f"{shape.events}"
    marker = root / "shape.json"
    if regenerate or not marker.exists() or marker.read_text() != shape.marker:
        shutil.rmtree(root, ignore_errors=True)
        wall, _, (lines, files) = timed(lambda: generate(root, shape))
        marker.write_text(shape.marker)
        print(f"generated {lines:,} raw lines in {files:,} batch files: {wall:.1f} s")
    shutil.rmtree(root / "events" / "parquet", ignore_errors=True)  # measure from all-raw
    shutil.rmtree(root / "cache", ignore_errors=True)
    return LocalBlobStore(root, "http://bench.invalid", Signer(b"bench", ()))


def questions(analytics: Analytics) -> dict[str, Callable[[], Any]]:
    everything = Filters()
    return {
        "per day": lambda: analytics.by_day(everything),
        "top images": lambda: analytics.top_images(everything, 10),
        "top users": lambda: analytics.top_users(everything, 10),
    }


def plain_sql(store: LocalBlobStore) -> dict[str, tuple[float, float]]:
    parts = sorted(str(p) for p in store.path_of("events/parquet").rglob("*.parquet"))
    con = duckdb.connect(config={"threads": os.cpu_count() or 1})
    out = {}
    for name, sql in PLAIN_SQL.items():

        def ask(sql: str = sql) -> list[tuple[Any, ...]]:
            return con.execute(sql, {"parts": parts}).fetchall()

        wall, cpu, _ = timed(ask, 3)
        out[name] = (wall, cpu)
    con.close()
    return out


def plain_conversion(store: LocalBlobStore) -> int:
    """The textbook DuckDB conversion, day by day: read_json over the batch files -> Parquet.

    No dedupe, no fingerprints, no manifest: what compaction costs at the least.
    """
    raw = store.path_of("events/raw")
    lines = 0
    with tempfile.TemporaryDirectory(prefix="imagelake-bench-") as tmp:
        con = duckdb.connect(config={"threads": os.cpu_count() or 1})
        for day in sorted(raw.glob("event_name=*/dt=*")):
            files = sorted(str(f) for f in day.rglob("*.jsonl"))
            row = con.execute(
                f"COPY (SELECT * FROM read_json($files, format = 'newline_delimited', "
                f"columns = {RAW_COLUMNS})) TO '{tmp}/day.parquet' "
                "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)",
                {"files": files},
            ).fetchone()
            lines += int(row[0]) if row else 0
        con.close()
    return lines


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    """Run with the defaults (as `python -m bench.run` does); 0 when every target is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--no-raw", action="store_true", help="skip the raw JSONL baseline")
    parser.add_argument("--regenerate", action="store_true", help="rewrite the raw archive")
    args = parser.parse_args([] if argv is None else argv)
    shape = Shape(args.events, args.images, args.users, args.days)
    print(f"load average before: {load()} ({os.cpu_count()} cores)", flush=True)
    store = prepare(shape, args.regenerate)
    analytics = Analytics(store, DuckDBEngine(), store.path_of("cache"))

    raw: dict[str, tuple[float, float, Any]] = {}
    if not args.no_raw:
        raw = {name: timed(ask) for name, ask in questions(analytics).items()}
    wall, cpu, report = timed(lambda: LakeCompactor(store, DuckDBEngine()).compact(all_hours=True))
    lines = report.lines_read
    floor_wall, floor_cpu, floor_lines = timed(lambda: plain_conversion(store))
    compacted = {name: timed(ask, 3) for name, ask in questions(analytics).items()}
    plain = plain_sql(store)

    ok = lines / wall >= COMPACTION_TARGET
    print(
        f"compaction: {lines:,} lines -> {report.events:,} events "
        f"({report.duplicates_dropped:,} duplicates dropped), {len(report.compacted)} parts, "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU\n"
        f"  {lines / wall:,.0f} lines/s wall ({lines / cpu:,.0f} per CPU-second); "
        f"target {COMPACTION_TARGET:,}/s: {'PASS' if ok else 'FAIL'} "
        f"({lines / wall / COMPACTION_TARGET:.2f}x)\n"
        f"  plain DuckDB read_json -> Parquet (no dedupe): {floor_lines / floor_wall:,.0f} "
        f"lines/s wall ({floor_lines / floor_cpu:,.0f} per CPU-second); compaction runs at "
        f"{lines / wall / (floor_lines / floor_wall):.2f}x its speed"
    )
    print(f"queries over {report.events:,} events, best of 3 (wall s / CPU s):")
    for name, (q_wall, q_cpu, result) in compacted.items():
        passed = q_wall < QUERY_TARGET
        ok = ok and passed
        line = f"  {name:<11} lake {q_wall:6.3f} / {q_cpu:6.3f}"
        p_wall, p_cpu = plain[name]
        line += f" | plain SQL {p_wall:6.3f} / {p_cpu:6.3f} ({p_wall / q_wall:5.1f}x)"
        if name in raw:
            r_wall, r_cpu, r_result = raw[name]
            same = "same answer" if r_result == result else "ANSWERS DIFFER"
            line += f" | raw JSONL {r_wall:7.2f} / {r_cpu:7.2f} ({r_wall / q_wall:5.0f}x, {same})"
        print(f"{line} | < {QUERY_TARGET:.0f} s: {'PASS' if passed else 'FAIL'}", flush=True)
    print(f"load average after: {load()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
