"""The image monitor under failure: bad payloads, broken backends, poison, dead letters."""

from __future__ import annotations

import json

import pytest

from imagelake.domain.errors import BackendError
from imagelake.domain.events import RequestRecord
from imagelake.ports import Notification
from tests.unit.faults import FlakyBlobStore, FlakyStats
from tests.unit.monitor_rig import DOCUMENTED, IMAGE_ID, MAX_RECEIVES, Rig, event

GARBAGE = [
    b"",
    b"not json at all",
    b'{"event_name": "IMAGE_VIEWED", "user_id": "1", "image_id": "x", "timestamp": "t"}',
    json.dumps(json.loads(DOCUMENTED)).encode("utf-16"),  # JSON, but not UTF-8
    b"\xff\xfe\x00garbage",
    event(user_id="\\ud800").replace(b"\\\\", b"\\"),  # an unpaired surrogate escape
    event(timestamp="0001-01-01T00:00:00+05:00"),  # before year 1 in UTC
    event(timestamp="NaN").replace(b'"NaN"', b"NaN"),
    b"[" * 50_000,  # nested too deeply, yet under the size limit
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=range(len(GARBAGE)))
def test_a_bad_payload_is_dead_lettered_with_its_reason_and_its_batch_mates_counted(
    garbage: bytes,
) -> None:
    rig = Rig()
    rig.send(event(user_id="1"), garbage, event(user_id="2"))

    rig.drain()

    assert rig.count() == 2
    [dead] = rig.queue.dead_letters()
    assert dead.body == garbage
    assert dead.reason.startswith("invalid event: ")
    assert dead.attempts == 1
    assert rig.queue.depth() == 0
    assert len(rig.archive_lines()) == 2


def test_reasons_name_the_fault() -> None:
    rig = Rig()
    rig.send(GARBAGE[3], GARBAGE[2])

    rig.drain()

    reasons = sorted(d.reason for d in rig.queue.dead_letters())
    assert "not UTF-8" in reasons[0]
    assert "IMAGE_VIEWED" in reasons[1]


def test_dead_letters_raise_one_alert_per_batch_naming_each_message() -> None:
    rig = Rig()
    rig.send(b"junk-1", event(), b"junk-2")

    rig.drain()

    [alert] = rig.notifier.sent
    assert alert.kind == "failure"
    assert "2 event(s) dead-lettered" in alert.subject
    assert alert.data["count"] == 2
    assert sorted(d["body"] for d in alert.data["dead_letters"]) == ["junk-1", "junk-2"]
    assert all("not valid JSON" in d["reason"] for d in alert.data["dead_letters"])


def test_an_alert_that_cannot_be_sent_does_not_stop_the_consumer() -> None:
    class BrokenNotifier:
        def notify(self, notification: Notification) -> None:
            raise BackendError("the mail server is down")

    rig = Rig()
    rig.send(b"junk", event())
    consumer = rig.consumer
    consumer._notifier = BrokenNotifier()

    assert consumer.run_once() == 2

    assert rig.count() == 1
    assert len(rig.queue.dead_letters()) == 1


def test_a_transient_failure_is_retried_within_the_step() -> None:
    rig = Rig()
    rig.archive_store = FlakyBlobStore(rig.blobs, failures=1)
    rig.stats_catalog = FlakyStats(rig.catalog, failures=2)
    rig.send(event(user_id="1"), event(user_id="2"))

    assert rig.drain() == 1

    assert rig.count() == 2
    assert rig.queue.dead_letters() == []
    assert rig.notifier.sent == []


def test_a_lasting_failure_is_retried_then_dead_lettered_after_max_receives() -> None:
    rig = Rig()
    flaky = FlakyStats(rig.catalog, failures=10_000)
    rig.stats_catalog = flaky
    rig.send(event(user_id="1"), event(user_id="2"))

    assert rig.drain() == MAX_RECEIVES

    dead = rig.queue.dead_letters()
    assert len(dead) == 2
    assert all(d.attempts == MAX_RECEIVES for d in dead)
    assert all("BackendError: the catalog is locked" in d.reason for d in dead)
    assert all(f"after {MAX_RECEIVES} attempts" in d.reason for d in dead)
    assert [a.data["count"] for a in rig.notifier.sent] == [2]


def test_a_replayed_dead_letter_is_counted_once_when_the_backend_is_back() -> None:
    rig = Rig()
    flaky = FlakyStats(rig.catalog, failures=10_000)
    rig.stats_catalog = flaky
    rig.send(DOCUMENTED)
    rig.drain()
    assert len(rig.queue.dead_letters()) == 1

    flaky.failures = 0
    assert rig.queue.replay() == 1
    rig.drain()
    rig.send(DOCUMENTED)  # and once more, as a second replay would
    rig.drain()

    assert rig.count() == 1
    assert rig.queue.dead_letters() == []
    assert len({line["key"] for line in rig.archive_lines()}) == 1


def test_a_message_one_step_cannot_take_is_isolated_from_its_batch_mates() -> None:
    rig = Rig()
    rig.stats_catalog = FlakyStats(rig.catalog, poisoned=lambda r: r.user_id == "cursed")
    rig.send(*[event(user_id=str(n)) for n in range(20)], event(user_id="cursed"))

    rig.drain()

    assert rig.count() == 20
    [dead] = rig.queue.dead_letters()
    assert json.loads(dead.body)["user_id"] == "cursed"
    assert dead.attempts == MAX_RECEIVES
    assert rig.queue.depth() == 0


def test_a_partition_the_archive_cannot_take_fails_only_its_own_events() -> None:
    rig = Rig()
    rig.archive_store = FlakyBlobStore(rig.blobs, poisoned=lambda key, _: "dt=1999" in key)
    old = event(timestamp="1999-12-31T23:59:59+00:00", user_id="old")
    rig.send(*[event(user_id=str(n)) for n in range(7)], old)

    rig.drain()

    assert rig.count() == 7
    [dead] = rig.queue.dead_letters()
    assert dead.body == old
    assert "cannot be written" in dead.reason


def test_an_unexpected_error_in_a_step_is_isolated_too() -> None:
    def boom(record: RequestRecord) -> bool:
        return record.user_id == "bug"

    rig = Rig()
    rig.stats_catalog = FlakyStats(rig.catalog, poisoned=boom, error=RuntimeError)
    rig.send(event(user_id="1"), event(user_id="bug"), event(user_id="2"))

    rig.drain()

    assert rig.count() == 2
    [dead] = rig.queue.dead_letters()
    assert "RuntimeError" in dead.reason


def test_a_message_delivered_too_often_is_dead_lettered_before_processing() -> None:
    rig = Rig()
    rig.send(event(user_id="poison"))
    for _ in range(MAX_RECEIVES):  # each delivery ended in a crash: never acked
        assert rig.queue.receive(1, visibility_timeout=0)
    rig.send(event(user_id="fine"))

    rig.drain()

    [dead] = rig.queue.dead_letters()
    assert json.loads(dead.body)["user_id"] == "poison"
    assert dead.reason.startswith("poison: delivered 4 times")
    assert rig.catalog.get_stats(IMAGE_ID).last_user_id == "fine"
    assert rig.count() == 1
    assert all(line["user_id"] == "fine" for line in rig.archive_lines())


def test_dead_letters_can_be_purged() -> None:
    rig = Rig()
    rig.send(b"junk-1", b"junk-2")
    rig.drain()

    assert rig.queue.purge_dead_letters() == 2
    assert rig.queue.dead_letters() == []
