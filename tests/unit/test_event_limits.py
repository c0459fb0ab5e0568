"""Events too large or too far in the future: refused over HTTP, dead-lettered off the queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imagelake.config import Settings
from imagelake.domain.access import Role
from imagelake.domain.events import EventLimits
from tests.unit.api_harness import Api, open_api
from tests.unit.monitor_rig import Rig, event

LIMIT = 2_000
SKEW = 3_600


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_api(tmp_path, role=Role.PRODUCER, max_event_bytes=LIMIT, max_event_skew=SKEW) as api:
        yield api


def padded(size: int) -> bytes:
    """A valid event of exactly size bytes."""
    body = event(note="")
    return event(note="x" * (size - len(body)))


def ahead(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def test_the_defaults_are_64_kib_and_one_day() -> None:
    fields = Settings.model_fields

    assert (fields["max_event_bytes"].default, fields["max_event_skew"].default) == (65_536, 86_400)
    assert EventLimits() == EventLimits(64 * 1024, timedelta(days=1))


def test_one_event_over_the_limit_is_413_naming_its_size_and_nothing_is_queued(api: Api) -> None:
    reply = api.client.post("/events", content=padded(LIMIT + 1))

    assert reply.status_code == 413, reply.text
    error = reply.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"] == [
        {"index": 0, "bytes": LIMIT + 1, "reason": error["details"][0]["reason"]}
    ]
    assert f"{LIMIT + 1:,} bytes" in error["message"] and f"{LIMIT:,}" in error["message"]
    assert api.wired.container.events.depth() == 0


def test_an_array_item_over_the_limit_is_413_naming_its_index_and_size(api: Api) -> None:
    big = padded(LIMIT + 500)
    body = b"[" + b",".join([event(), padded(LIMIT), big, event()]) + b"]"

    reply = api.client.post("/events", content=body)

    assert reply.status_code == 413, reply.text
    error = reply.json()["error"]
    assert [(d["index"], d["bytes"]) for d in error["details"]] == [(2, len(big))]
    assert "item 2" in error["message"]
    assert api.wired.container.events.depth() == 0


def test_an_event_at_the_limit_is_accepted(api: Api) -> None:
    reply = api.client.post("/events", content=b"[" + padded(LIMIT) + b"]")

    assert reply.status_code == 202, reply.text
    assert api.client.post("/events", content=padded(LIMIT)).status_code == 202


def test_a_timestamp_beyond_the_skew_is_422_naming_the_item(api: Api) -> None:
    items = [
        json.loads(event(timestamp=ahead(SKEW - 60))),
        json.loads(event(timestamp=ahead(SKEW + 60))),
    ]

    one = api.client.post("/events", json=items[1])
    both = api.client.post("/events", json=items)

    assert one.status_code == 422, one.text
    assert both.status_code == 422
    error = both.json()["error"]
    assert [d["index"] for d in error["details"]] == [1]
    assert "future" in error["details"][0]["reason"]
    assert api.wired.container.events.depth() == 0
    assert api.client.post("/events", json=items[0]).status_code == 202


def test_far_future_years_are_refused_too(api: Api) -> None:
    reply = api.client.post(
        "/events", json=json.loads(event(timestamp="9999-12-31T23:59:59+00:00"))
    )

    assert reply.status_code == 422, reply.text
    assert "future" in reply.json()["error"]["message"]


def rig() -> Rig:
    return Rig(limits=EventLimits(LIMIT, timedelta(seconds=SKEW)))


def test_the_monitor_dead_letters_an_oversized_payload_unread() -> None:
    r = rig()
    big = padded(LIMIT + 1)
    r.send(big, event(user_id="fine"))

    r.drain()

    [dead] = r.queue.dead_letters()
    assert dead.body == big
    assert dead.reason.startswith("payload too large: ")
    assert f"{LIMIT + 1:,} bytes" in dead.reason and f"{LIMIT:,}" in dead.reason
    assert [line["user_id"] for line in r.archive_lines()] == ["fine"]
    assert "payload too large" in r.notifier.sent[0].message


def test_the_monitor_dead_letters_an_event_from_the_far_future() -> None:
    r = rig()
    r.send(event(timestamp="9999-12-31T23:59:59+00:00"), event(timestamp=ahead(SKEW - 60)))

    r.drain()

    [dead] = r.queue.dead_letters()
    assert dead.reason.startswith("invalid event: ")
    assert "future" in dead.reason and "9999-12-31" in dead.reason
    assert len(r.archive_lines()) == 1
