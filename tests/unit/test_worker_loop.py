"""The worker loop: thumbnail jobs stored while the next is decoded, events batched behind
them, idle workers woken when work is sent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imagelake.adapters.memory import MemoryQueue
from imagelake.adapters.waking_queue import WakingQueue
from imagelake.bootstrap import Services, build, services
from imagelake.config import Settings
from imagelake.domain.errors import BackendError
from imagelake.domain.images import ImageStatus
from imagelake.ports import Message, Queue
from imagelake.runtime.workers import IDLE_SLEEP, consume
from tests.unit.api_harness import MEMORY
from tests.unit.fakes import FakeImageEngine, png
from tests.unit.faults import FlakyBlobStore

PHOTOS = tuple(png(600, 400, seed=seed) for seed in range(3))


def wire(tmp_path: Path, failing_puts: int = 0) -> tuple[Services, FlakyBlobStore]:
    settings = Settings(data_dir=tmp_path / "data", **MEMORY)
    container = build(settings)
    container.engine = FakeImageEngine()
    thumbnails = FlakyBlobStore(container.thumbnails, failures=failing_puts)
    container.thumbnails = thumbnails
    return services(container), thumbnails


def work_off(wired: Services, rounds: int = 5) -> int:
    """Run the overlapped consumer until the queue is empty; each exit finishes the last job."""
    handled = 0
    for _ in range(rounds):
        with wired.thumbnail_jobs.overlapped() as run_once:
            while found := run_once():
                handled += found
        if not wired.container.jobs.depth():
            break
    return handled


def test_overlapped_jobs_all_end_ready_once_it_returns(tmp_path: Path) -> None:
    wired, _ = wire(tmp_path)
    ids = [wired.ingest.upload(photo, "ann").image.image_id for photo in PHOTOS]

    with wired.thumbnail_jobs.overlapped() as run_once:
        handled = sum(iter(run_once, 0))

    assert handled == len(PHOTOS)
    for image_id in ids:
        image = wired.container.catalog.get_image(image_id)
        assert image.status == ImageStatus.READY
        assert sorted(image.thumbnails) == [128, 256, 512]
    assert wired.container.jobs.depth() == 0  # every job acked, none left in flight


def test_a_store_that_fails_in_the_background_is_retried_like_any_failed_job(
    tmp_path: Path,
) -> None:
    wired, thumbnails = wire(tmp_path, failing_puts=1)
    first, second = (wired.ingest.upload(p, "ann").image.image_id for p in PHOTOS[:2])

    handled = work_off(wired)

    assert handled == 3  # the failed job once more
    assert wired.container.catalog.get_image(first).status == ImageStatus.READY
    assert wired.container.catalog.get_image(second).status == ImageStatus.READY
    assert thumbnails.attempts == 9  # three sizes, three times
    assert wired.container.jobs.dead_letters() == []


def test_events_wait_while_jobs_keep_coming_and_run_as_soon_as_they_stop() -> None:
    calls: list[str] = []
    jobs_waiting = [3]

    def jobs() -> int:
        if not jobs_waiting[0]:
            return 0
        jobs_waiting[0] -= 1
        calls.append("job")
        return 1

    def events() -> int:
        calls.append("events")
        return 0

    consume(jobs, events, stop=lambda: calls.count("events") == 2, events_every=3600)

    assert calls == ["job", "events", "job", "job", "events"]


def test_events_still_run_between_jobs_once_their_time_is_due() -> None:
    calls: list[str] = []

    def jobs() -> int:
        calls.append("job")
        return 1  # a backlog that never ends

    def events() -> int:
        calls.append("events")
        return 0

    consume(jobs, events, stop=lambda: len(calls) >= 6, events_every=0)

    assert calls == ["job", "events"] * 3


def test_the_workers_hear_of_every_send_and_replay_that_queued_work() -> None:
    woken: list[str] = []
    queue = WakingQueue(MemoryQueue("thumbnails"), lambda: woken.append("wake"))

    queue.send([b"job one", b"job two"])
    queue.send([])
    first, second = queue.receive(2, visibility_timeout=30)
    queue.dead_letter(first, "broken")
    queue.ack([second])
    assert queue.replay() == 1
    assert queue.replay() == 0

    assert woken == ["wake", "wake"]  # the send, then the replay that put a job back
    assert [m.body for m in queue.receive(2, visibility_timeout=30)] == [b"job one"]


def test_an_idle_worker_naps_between_polls_and_a_busy_one_never() -> None:
    naps: list[float] = []
    results = iter([1, 1, 0, 0])

    consume(
        lambda: next(results, 0),
        lambda: 0,
        stop=lambda: len(naps) == 2,
        events_every=3600,
        nap=naps.append,
    )

    assert naps == [IDLE_SLEEP, IDLE_SLEEP]  # after each idle round only


class AckFailsOnce(WakingQueue):
    """The jobs queue, whose first ack fails as a backend would."""

    def __init__(self, inner: Queue) -> None:
        super().__init__(inner, lambda: None)
        self.failed = False

    def ack(self, messages: Sequence[Message]) -> None:
        if not self.failed:
            self.failed = True
            raise BackendError("queue unavailable")
        super().ack(messages)


def test_a_store_step_that_raises_surfaces_once_and_the_next_jobs_still_finish(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", **MEMORY)
    container = build(settings)
    container.jobs = AckFailsOnce(container.jobs)
    container.engine = FakeImageEngine()
    wired = services(container)
    ids = [wired.ingest.upload(photo, "ann").image.image_id for photo in PHOTOS]

    raised = 0
    with wired.thumbnail_jobs.overlapped() as run_once:
        while True:
            try:
                if not run_once():
                    break
            except BackendError:
                raised += 1

    assert raised == 1
    for image_id in ids:  # the job whose ack failed was stored before; it comes back later
        assert wired.container.catalog.get_image(image_id).status == ImageStatus.READY
