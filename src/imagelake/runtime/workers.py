"""The consumer loop of the embedded and container shapes: one process per worker."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event

from imagelake.config import Settings

log = logging.getLogger(__name__)

IDLE_SLEEP = 0.05
EVENTS_EVERY = 1.0


def consume(
    jobs: Callable[[], int],
    events: Callable[[], int],
    stop: Callable[[], bool],
    events_every: float = EVENTS_EVERY,
    nap: Callable[[float], object] = time.sleep,
) -> None:
    """Thumbnail jobs first; events when no job is waiting, or after events_every seconds.

    Events wait for the jobs because someone waits for a thumbnail, nobody for an archived
    event, and because many events in one batch cost much less than a batch for each job's
    one or two (an archive file and its fsyncs each). Nap only when both were idle.
    """
    events_due = time.monotonic()
    while not stop():
        handled = _step(jobs)
        if not handled or time.monotonic() >= events_due:
            handled += _step(events)
            events_due = time.monotonic() + events_every
        if not handled:
            nap(IDLE_SLEEP)


def _step(run_once: Callable[[], int]) -> int:
    try:
        return run_once()
    except Exception:  # a broken backend must not kill the worker: log and go on
        log.exception("consumer step failed")
        time.sleep(1.0)
        return 0


def worker_main(settings: Settings, stop: Event, parent_pid: int, wake: Event) -> None:
    """Entry of one worker process: build its own adapters, then consume until told to stop.

    An idle worker naps until `wake` is set (work was sent) or the next poll is due.
    """
    # Parallelism comes from the worker processes: libvips threads on top of one process per
    # core only contend for the same cores (bench/README.md has the measurement).
    # Read by libvips when it starts, so before anything imports pyvips.
    cores_each = (os.cpu_count() or 1) // max(1, settings.workers)
    os.environ.setdefault("VIPS_CONCURRENCY", str(max(1, cores_each)))
    from imagelake.bootstrap import build, services
    from imagelake.runtime.gc_tuning import tune_for_throughput
    from imagelake.runtime.observability import flush_sentry, init_sentry, setup_logging

    setup_logging()
    init_sentry(settings, "worker")

    def should_stop() -> bool:
        return stop.is_set() or os.getppid() != parent_pid  # parent gone: exit with it

    def nap(seconds: float) -> None:
        if wake.wait(seconds):
            wake.clear()  # a hint only: whoever wakes polls, and polling stays the fallback

    try:
        container = build(settings)
        try:
            wired = services(container)
            tune_for_throughput()
            with wired.thumbnail_jobs.overlapped() as jobs:
                consume(jobs, wired.monitor.run_once, should_stop, nap=nap)
        finally:
            container.close()
    except Exception:  # reported here: multiprocessing would print it and skip every hook
        log.exception("worker %s stopped by an error", multiprocessing.current_process().name)
        raise
    finally:
        flush_sentry()


class WorkerPool:
    """N worker processes: real parallelism, each with its own libvips and connections."""

    def __init__(self, settings: Settings, count: int) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()
        self._wake = self._ctx.Event()
        self._settings = settings
        self._count = count
        self._procs: list[multiprocessing.process.BaseProcess] = []

    def start(self) -> None:
        for i in range(self._count):
            proc = self._ctx.Process(
                target=worker_main,
                args=(self._settings, self._stop, os.getpid(), self._wake),
                name=f"imagelake-worker-{i}",
                daemon=True,
            )
            proc.start()
            self._procs.append(proc)

    def wake(self) -> None:
        """Tell idle workers there is work now, rather than at their next poll (<= 50 ms)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for proc in self._procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
        self._procs.clear()


class Periodic:
    """Run a task on a daemon thread: soon after start, then every interval seconds.

    An interval of 0 never runs it. A failing run is logged; the next one still comes.
    """

    FIRST_RUN_AFTER = 10.0

    def __init__(self, task: Callable[[], object], interval: float, name: str) -> None:
        self._task = task
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        if self._interval > 0:
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        wait = min(self._interval, self.FIRST_RUN_AFTER)
        while not self._stop.wait(wait):
            try:
                self._task()
            except Exception:  # a broken backend must not end the schedule
                log.exception("%s failed", self._thread.name)
            wait = self._interval
