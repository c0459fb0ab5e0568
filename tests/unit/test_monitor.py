"""The image monitor's happy paths: what lands in the lake and in the catalog, and how often."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from imagelake.domain.errors import NotFound
from imagelake.lake.archive import original_bytes
from tests.unit.monitor_rig import DOCUMENTED, IMAGE_ID, Rig, event


def test_the_pretty_printed_payload_comes_back_byte_for_byte_from_one_archive_line() -> None:
    rig = Rig()
    rig.send(DOCUMENTED)

    rig.drain()

    [key] = rig.archive_keys()
    assert key.startswith("events/raw/event_name=IMAGE_REQUESTED/dt=2021-07-11/hour=09/")
    assert key.endswith(".jsonl")
    [line] = rig.blobs.get(key).decode().splitlines()
    assert original_bytes(line) == DOCUMENTED
    assert json.loads(line)["raw"].encode() == DOCUMENTED


def test_archive_lines_carry_the_parsed_fields_beside_the_raw_text() -> None:
    rig = Rig()
    rig.send(DOCUMENTED)

    rig.drain()

    [line] = rig.archive_lines()
    assert line["event_name"] == "IMAGE_REQUESTED"
    assert (line["user_id"], line["image_id"]) == ("42", IMAGE_ID)
    assert line["timestamp"] == "2021-07-11T09:17:13+00:00"
    assert line["key"].startswith("sha256:")
    assert datetime.fromisoformat(line["received_at"]).tzinfo is not None


def test_extra_fields_are_kept_in_the_archive() -> None:
    rig = Rig()
    rig.send(event(referrer="https://example.com/gallery", size="256", tags=["a", "b"]))

    rig.drain()

    [line] = rig.archive_lines()
    kept = json.loads(line["raw"])
    assert kept["referrer"] == "https://example.com/gallery"
    assert (kept["size"], kept["tags"]) == ("256", ["a", "b"])


def test_non_ascii_text_survives_exactly_and_the_line_stays_one_line() -> None:
    # U+2028 is a line break to many readers (str.splitlines among them).
    payload = json.loads(event(user_id="Zoë", caption="sunset\u2028🌅"))
    body = json.dumps(payload, ensure_ascii=False, indent=1).encode()
    rig = Rig()
    rig.send(body)

    rig.drain()

    [key] = rig.archive_keys()
    data = rig.blobs.get(key)
    assert data.isascii()
    assert len(data.decode().splitlines()) == 1
    assert original_bytes(data) == body
    assert rig.catalog.get_stats(IMAGE_ID).last_user_id == "Zoë"


def test_partitions_follow_the_utc_hour_of_the_event_timestamp() -> None:
    rig = Rig()
    rig.send(
        event(timestamp="2021-07-11T00:30:00+02:00"),  # 2021-07-10 22:30 UTC
        event(timestamp="2021-07-11T09:59:59Z"),
        event(timestamp="2021-07-11T10:00:00+00:00", event_name="THUMBNAIL_CREATED"),
    )

    rig.drain()

    partitions = sorted(key.rsplit("/", 1)[0] for key in rig.archive_keys())
    assert partitions == [
        "events/raw/event_name=IMAGE_REQUESTED/dt=2021-07-10/hour=22",
        "events/raw/event_name=IMAGE_REQUESTED/dt=2021-07-11/hour=09",
        "events/raw/event_name=THUMBNAIL_CREATED/dt=2021-07-11/hour=10",
    ]


def test_one_batch_writes_one_object_per_partition() -> None:
    rig = Rig()
    rig.send(*[event(user_id=str(n)) for n in range(10)])

    rig.drain()

    assert len(rig.archive_keys()) == 1
    assert len(rig.archive_lines()) == 10


def test_the_same_event_twice_is_counted_once() -> None:
    rig = Rig()
    rig.send(DOCUMENTED, DOCUMENTED)
    rig.drain()
    rig.send(DOCUMENTED)
    rig.drain()

    assert rig.count() == 1
    # Every delivery is archived; the shared key lets analytics drop the repeats.
    assert {line["key"] for line in rig.archive_lines()} == {rig.archive_lines()[0]["key"]}


def test_the_event_id_wins_over_the_bytes() -> None:
    rig = Rig()
    rig.send(event(event_id="evt-1", user_id="a"), event(event_id="evt-1", user_id="b"))
    rig.send(json.dumps(json.loads(event(event_id="evt-1", user_id="a")), indent=4).encode())

    rig.drain()

    assert rig.count() == 1
    assert {line["key"] for line in rig.archive_lines()} == {"id:evt-1"}


def test_different_bytes_of_the_same_fields_are_different_events_without_an_event_id() -> None:
    rig = Rig()
    rig.send(DOCUMENTED, json.dumps(json.loads(DOCUMENTED)).encode())

    rig.drain()

    assert rig.count() == 2


def test_a_redelivered_batch_changes_nothing() -> None:
    rig = Rig()
    rig.send(*[event(user_id=str(n)) for n in range(5)])
    messages = rig.queue.receive(10, visibility_timeout=0)

    rig.consumer.handle(messages)
    rig.consumer.handle(messages)  # as after a crash between counting and acking

    assert rig.count() == 5
    assert rig.queue.depth() == 0


def test_stats_track_first_last_and_the_latest_requester_whatever_the_arrival_order() -> None:
    rig = Rig()
    rig.send(event(user_id="late", timestamp="2021-07-11T12:00:00+00:00"))
    rig.drain()
    rig.send(
        event(user_id="early", timestamp="2021-07-11T08:00:00+00:00"),
        event(user_id="middle", timestamp="2021-07-11T11:00:00+02:00"),  # 09:00 UTC
    )
    rig.drain()
    rig.send(event(user_id="early", timestamp="2021-07-11T10:00:00+00:00"))
    rig.drain()

    stats = rig.catalog.get_stats(IMAGE_ID)
    assert (stats.request_count, stats.unique_users) == (4, 3)
    assert stats.last_user_id == "late"
    assert stats.first_requested_at == datetime(2021, 7, 11, 8, tzinfo=UTC)
    assert stats.last_requested_at == datetime(2021, 7, 11, 12, tzinfo=UTC)


def test_any_image_id_gets_stats_uploaded_here_or_not() -> None:
    rig = Rig()
    rig.send(event(image_id="someone-elses-image-7"), event(image_id="42"))

    rig.drain()

    assert rig.count("someone-elses-image-7") == 1
    assert rig.count("42") == 1


def test_only_requests_are_counted_but_every_event_is_archived() -> None:
    rig = Rig()
    rig.send(
        event(event_name="IMAGE_UPLOADED"),
        event(event_name="THUMBNAIL_CREATED"),
        event(event_name="IMAGE_DELETED"),
    )

    rig.drain()

    with pytest.raises(NotFound):
        rig.catalog.get_stats(IMAGE_ID)
    assert sorted(line["event_name"] for line in rig.archive_lines()) == [
        "IMAGE_DELETED",
        "IMAGE_UPLOADED",
        "THUMBNAIL_CREATED",
    ]
    assert rig.queue.depth() == 0
    assert rig.notifier.sent == []
