"""POST /events' service: all or nothing, every item's bytes kept, every bad item named."""

from __future__ import annotations

import json

import pytest

from imagelake.adapters.memory import MemoryQueue
from imagelake.domain.errors import InvalidEvent, InvalidInput
from imagelake.services.intake import MAX_BATCH, EventIntake
from tests.unit.monitor_rig import DOCUMENTED, event


def queued(queue: MemoryQueue) -> list[bytes]:
    return [m.body for m in queue.receive(10_000, visibility_timeout=60)]


def test_one_event_is_queued_exactly_as_sent() -> None:
    queue = MemoryQueue("events")

    assert EventIntake(queue).accept(DOCUMENTED) == 1

    assert queued(queue) == [DOCUMENTED]


def test_each_array_item_is_queued_as_the_exact_bytes_sent_for_it() -> None:
    second = b'{ "event_name" : "IMAGE_UPLOADED",\n  "user_id": 7, "image_id": "x",\n'
    second += b'  "timestamp": "2021-07-11T09:17:13Z", "note": "caf\xc3\xa9" }'
    body = b"[\n  " + DOCUMENTED + b" ,\n" + second + b"\n]\n"
    queue = MemoryQueue("events")

    assert EventIntake(queue).accept(body) == 2

    assert queued(queue) == [DOCUMENTED, second]


def test_any_invalid_item_refuses_the_whole_array_naming_each() -> None:
    items = [json.loads(event()), {"event_name": "IMAGE_REQUESTED"}, json.loads(event()), 3]
    queue = MemoryQueue("events")

    with pytest.raises(InvalidEvent) as refused:
        EventIntake(queue).accept(json.dumps(items).encode())

    assert [d["index"] for d in refused.value.details or []] == [1, 3]
    assert "user_id" in str((refused.value.details or [])[0]["reason"])
    assert "nothing queued" in str(refused.value)
    assert queue.depth() == 0


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[1,]", b"[1 2]", b"[] []", b"{} x", b"\xff\xfe{}", b"NaN", b"[" * 100_000],
)
def test_malformed_json_is_invalid_input_not_an_invalid_event(body: bytes) -> None:
    queue = MemoryQueue("events")

    with pytest.raises(InvalidInput, match="malformed JSON") as refused:
        EventIntake(queue).accept(body)

    assert not isinstance(refused.value, InvalidEvent)
    assert queue.depth() == 0


def test_an_empty_array_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="no events"):
        EventIntake(MemoryQueue("events")).accept(b"[]")


def test_more_than_the_limit_is_refused_and_the_limit_is_accepted() -> None:
    queue = MemoryQueue("events")
    one = json.loads(event())

    with pytest.raises(InvalidEvent, match=str(MAX_BATCH)):
        EventIntake(queue).accept(json.dumps([one] * (MAX_BATCH + 1)).encode())
    assert queue.depth() == 0

    assert EventIntake(queue).accept(json.dumps([one] * MAX_BATCH).encode()) == MAX_BATCH
