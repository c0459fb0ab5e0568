"""Observer throughput against a real `imagelake serve`, with a bare SQLite loop as the floor.

- floor: INSERT 500-row batches into SQLite (WAL, synchronous=FULL), one transaction each:
  the cost of the one durable commit every accepted batch needs before its 202.
- accepted: events/s that POST /events answers 202 (batches of 500, a few client threads).
- end to end: events/s from the first POST until GET /images/{id}/stats counts them all.
- CPU per event: CPU seconds the service (API and workers) spent per event, from /proc: on a
  shared machine the wall-clock rates depend on the neighbours, this does much less.

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


@dataclass(frozen=True)
class Result:
    floor: float  # events/s
    accepted: float
    end_to_end: float
    events: int
    floor_cpu: float  # CPU seconds per event
    api_cpu: float  # the serving process
    worker_cpu: float  # the worker processes together
    load: str  # the machine's load average when the run began

    @property
    def service_cpu(self) -> float:
        return self.api_cpu + self.worker_cpu

    def lines(self) -> list[str]:
        verdict = "PASS" if self.end_to_end >= TARGET else "FAIL"
        cores = os.cpu_count() or 1
        return [
            f"events: {self.events:,} in batches of {BATCH}; load average before: {self.load}",
            f"floor (bare SQLite, 1 txn/batch)   {self.floor:>10,.0f} events/s"
            f"  {self.floor_cpu * 1e6:6.1f} us CPU/event",
            f"POST /events accepted              {self.accepted:>10,.0f} events/s"
            f"  ({self.accepted / self.floor:.2f}x floor)",
            f"end to end, accepted -> counted    {self.end_to_end:>10,.0f} events/s"
            f"  ({self.end_to_end / self.floor:.2f}x floor)",
            f"service CPU (API + workers)        {self.service_cpu * 1e6:10.1f} us/event"
            f"  ({self.service_cpu / self.floor_cpu:.1f}x floor): at most "
            f"{cores / self.service_cpu:,.0f} events/s on {cores} idle cores",
            f"  of which API {self.api_cpu * 1e6:.1f} us/event, "
            f"workers {self.worker_cpu * 1e6:.1f}",
            f"load average at the end: {Path('/proc/loadavg').read_text().split()[0]}",
            f"end to end: {self.end_to_end:,.0f} events/s (>= {TARGET:,}) {verdict}",
        ]


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time so far of a process, and of all its descendants (Linux /proc)."""
    own, descendants, tick = 0.0, 0.0, os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:  # it ended meanwhile
            continue
        spent = (int(stat[11]) + int(stat[12])) / tick
        if current == pid:
            own = spent
        else:
            descendants += spent
        pending += [int(child) for child in children]
    return own, descendants


def sqlite_floor(folder: Path, events: int) -> tuple[float, float]:
    """The cheapest durable queue, one synchronous=FULL WAL commit per batch: (events/s, CPU)."""
    conn = sqlite3.connect(folder / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    bodies = [[(body,) for body in batch] for batch in _batches(events)]
    started, cpu = time.perf_counter(), time.process_time()
    for rows in bodies:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO messages (body) VALUES (?)", rows)
        conn.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    return events / elapsed, cpu / events


def _batches(events: int, images: list[str] | None = None) -> Iterator[list[bytes]]:
    images = images or [str(uuid.uuid4()) for _ in range(IMAGES)]
    run = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)  # live traffic: the lake compacts closed hours only
    for start in range(0, events, BATCH):
        batch = []
        for n in range(start, min(events, start + BATCH)):
            event = {
                "event_name": "IMAGE_REQUESTED",
                "user_id": str(n % 97),
                "image_id": images[n % len(images)],
                "timestamp": (now + timedelta(microseconds=997 * n)).isoformat(),
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
    """Poll the stats of the images not yet complete; few requests, so the API stays free."""
    expected = dict.fromkeys(images, 0)
    for n in range(total):
        expected[images[n % len(images)]] += 1
    deadline = time.monotonic() + timeout
    with service.client() as client:
        while expected and time.monotonic() < deadline:
            for image_id, count in list(expected.items()):
                reply = client.get(f"/images/{image_id}/stats")
                if reply.status_code == 200 and reply.json()["request_count"] >= count:
                    del expected[image_id]
                else:
                    break  # the others are behind this one: ask again later
            time.sleep(0.05)
    if expected:
        raise RuntimeError(f"{len(expected)} images not fully counted after {timeout}s")


@contextmanager
def serving(folder: Path, workers: int, env: dict[str, str]) -> Iterator[Service]:
    # The pipeline is measured, not the per-key rate limit: one bench key sends everything.
    unlimited = {"IMAGELAKE_RATE_LIMIT": "", **env}
    service = Service(folder / "data", extra_env=unlimited, workers=workers).start()
    try:
        yield service
    finally:
        service.stop()


def measure(events: int, clients: int, workers: int, env: dict[str, str]) -> Result:
    with tempfile.TemporaryDirectory(prefix="imagelake-bench-") as tmp:
        folder = Path(tmp)
        load = Path("/proc/loadavg").read_text().split()[0]
        floor, floor_cpu = sqlite_floor(folder, events)
        images = [str(uuid.uuid4()) for _ in range(IMAGES)]
        bodies = [b"[" + b",".join(batch) + b"]" for batch in _batches(events, images)]
        with serving(folder, workers, env) as service:
            warm = [b"[" + b",".join(batch) + b"]" for batch in _batches(2 * BATCH)]
            _post_all(service, warm, 1)  # connections, imports and page caches warmed
            assert service.proc is not None
            api_cpu, worker_cpu = cpu_seconds(service.proc.pid)
            started = time.perf_counter()
            _post_all(service, bodies, clients)
            accepted = time.perf_counter() - started
            _wait_counted(service, images, events, timeout=600)
            counted = time.perf_counter() - started
            api_end, worker_end = cpu_seconds(service.proc.pid)
    rates = (floor, events / accepted, events / counted)
    cpu = ((api_end - api_cpu) / events, (worker_end - worker_cpu) / events)
    return Result(*rates, events, floor_cpu, *cpu, load)


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
