"""Observer throughput against a real `imagelake serve`, with a bare SQLite loop as the floor.

- floor: INSERT 500-row batches into SQLite (WAL, synchronous=FULL), one transaction each:
  the cost of the one durable commit every accepted batch needs before its 202.
- accepted: events/s that POST /events answers 202 (batches of 500, a few client threads).
- end to end: events/s from the first POST until GET /images/{id}/stats counts them all.

`python -m bench.events [--events N] [--clients C] [--workers W]`
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.e2e.service import Service

BATCH = 500
IMAGES = 8  # events spread over a few images, as real traffic would be
TARGET = 20_000  # events/s end to end, embedded, on the 2-core reference machine
START = datetime(2021, 7, 11, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Result:
    floor: float  # events/s
    accepted: float
    end_to_end: float
    events: int

    def lines(self) -> list[str]:
        verdict = "meets" if self.end_to_end >= TARGET else "misses"
        return [
            f"events: {self.events:,} in batches of {BATCH}",
            f"floor (bare SQLite, 1 txn/batch)   {self.floor:>10,.0f} events/s",
            f"POST /events accepted              {self.accepted:>10,.0f} events/s"
            f"  ({self.accepted / self.floor:.2f}x floor)",
            f"end to end, accepted -> counted    {self.end_to_end:>10,.0f} events/s"
            f"  ({self.end_to_end / self.floor:.2f}x floor)",
            f"target {TARGET:,} events/s end to end: {verdict} it "
            f"({self.end_to_end / TARGET:.2f}x)",
        ]


def sqlite_floor(folder: Path, events: int) -> float:
    """Events/s of the cheapest durable queue: one synchronous=FULL WAL commit per batch."""
    conn = sqlite3.connect(folder / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    bodies = [[(body,) for body in batch] for batch in _batches(events)]
    started = time.perf_counter()
    for rows in bodies:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO messages (body) VALUES (?)", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return events / elapsed


def _batches(events: int, images: list[str] | None = None) -> Iterator[list[bytes]]:
    images = images or [str(uuid.uuid4()) for _ in range(IMAGES)]
    run = uuid.uuid4().hex[:8]
    for start in range(0, events, BATCH):
        batch = []
        for n in range(start, min(events, start + BATCH)):
            event = {
                "event_name": "IMAGE_REQUESTED",
                "user_id": str(n % 97),
                "image_id": images[n % len(images)],
                "timestamp": (START + timedelta(microseconds=997 * n)).isoformat(),
                "event_id": f"{run}-{n}",
            }
            batch.append(json.dumps(event).encode())
        yield batch


def _post_all(service: Service, bodies: list[bytes], clients: int) -> None:
    pending = list(reversed(bodies))
    lock = threading.Lock()
    failures: list[str] = []

    def post() -> None:
        with service.client() as client:
            while True:
                with lock:
                    if not pending:
                        return
                    body = pending.pop()
                reply = client.post(
                    "/events", content=body, headers={"content-type": "application/json"}
                )
                if reply.status_code != 202:
                    failures.append(reply.text)
                    return

    threads = [threading.Thread(target=post) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"POST /events failed: {failures[0]}")


def _wait_counted(service: Service, images: list[str], total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    counted = 0
    with service.client() as client:
        while time.monotonic() < deadline:
            counted = 0
            for image_id in images:
                reply = client.get(f"/images/{image_id}/stats")
                counted += reply.json()["request_count"] if reply.status_code == 200 else 0
            if counted >= total:
                return
            time.sleep(0.02)
    raise RuntimeError(f"only {counted} of {total} events counted after {timeout}s")


@contextmanager
def serving(folder: Path, workers: int, env: dict[str, str]) -> Iterator[Service]:
    service = Service(folder / "data", extra_env=env, workers=workers).start()
    try:
        yield service
    finally:
        service.stop()


def measure(events: int, clients: int, workers: int, env: dict[str, str]) -> Result:
    with tempfile.TemporaryDirectory(prefix="imagelake-bench-") as tmp:
        folder = Path(tmp)
        floor = sqlite_floor(folder, events)
        images = [str(uuid.uuid4()) for _ in range(IMAGES)]
        bodies = [b"[" + b",".join(batch) + b"]" for batch in _batches(events, images)]
        with serving(folder, workers, env) as service:
            warm = [b"[" + b",".join(batch) + b"]" for batch in _batches(2 * BATCH)]
            _post_all(service, warm, 1)  # connections, imports and page caches warmed
            started = time.perf_counter()
            _post_all(service, bodies, clients)
            accepted = time.perf_counter() - started
            _wait_counted(service, images, events, timeout=600)
            counted = time.perf_counter() - started
    return Result(floor, events / accepted, events / counted, events)


def main(argv: list[str] | None = None) -> int:
    """Run with the defaults (as `python -m bench.run` does); 0 when the target is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the service")
    args = parser.parse_args([] if argv is None else argv)
    env = dict(item.split("=", 1) for item in args.env)
    result = measure(args.events, args.clients, args.workers, env)
    print("\n".join(result.lines()), flush=True)
    return 0 if result.end_to_end >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
