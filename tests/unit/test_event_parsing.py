"""Decoding raw payloads: UTF-8 only, strict JSON, exact item sources, no crash on any input."""

from __future__ import annotations

import json

import pytest

from imagelake.codecs.event_json import decode_payload, json_items, parse_event
from imagelake.domain.errors import InvalidEvent
from imagelake.domain.events import utc_isoformat, validate_event
from tests.unit.monitor_rig import DOCUMENTED, event


def test_the_text_of_a_payload_gives_back_its_bytes() -> None:
    text, payload = decode_payload(DOCUMENTED)

    assert text.encode() == DOCUMENTED
    assert isinstance(payload, dict)
    assert payload["user_id"] == "42"


def test_a_byte_order_mark_is_ignored_for_parsing_but_kept_in_the_text() -> None:
    text, payload = decode_payload(b"\xef\xbb\xbf" + DOCUMENTED)

    assert text.encode() == b"\xef\xbb\xbf" + DOCUMENTED
    assert isinstance(payload, dict)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "latin-1"])
def test_other_encodings_are_refused(encoding: str) -> None:
    body = json.dumps({**json.loads(DOCUMENTED), "user_id": "Zoë"}, ensure_ascii=False)

    with pytest.raises(InvalidEvent, match="not UTF-8"):
        parse_event(body.encode(encoding))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_refused(constant: str) -> None:
    with pytest.raises(InvalidEvent, match="not JSON"):
        decode_payload(f'{{"x": {constant}}}'.encode())


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        decode_payload(b"[" * 100_000)


@pytest.mark.parametrize("field", ["user_id", "image_id", "event_id"])
def test_an_unpaired_surrogate_in_an_id_is_refused(field: str) -> None:
    raw = json.loads(event())
    raw[field] = "x\ud800"

    with pytest.raises(InvalidEvent, match="surrogate"):
        validate_event(raw)


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_a_timestamp_outside_utc_range_is_refused(timestamp: str) -> None:
    with pytest.raises(InvalidEvent, match="out of range"):
        validate_event(json.loads(event(timestamp=timestamp)))


def test_json_items_gives_each_array_item_its_exact_source() -> None:
    is_array, items = json_items(' [ 1 , {"a": [1, 2]}\n,\t"x" ] \n')

    assert is_array
    assert items == [(1, "1"), ({"a": [1, 2]}, '{"a": [1, 2]}'), ("x", '"x"')]


def test_json_items_takes_a_single_value_whole() -> None:
    assert json_items(' {"a": 1} ') == (False, [({"a": 1}, ' {"a": 1} ')])
    assert json_items("[]") == (True, [])


@pytest.mark.parametrize("name", [["IMAGE_REQUESTED"], {"a": 1}, 1.5])
def test_an_event_name_of_the_wrong_type_is_refused_not_a_crash(name: object) -> None:
    with pytest.raises(InvalidEvent, match="event_name"):
        validate_event({**json.loads(event()), "event_name": name})


@pytest.mark.parametrize(
    "timestamp",
    [
        "2021-07-11T09:17:13+00:00",
        "2021-07-11T09:17:13.123456+00:00",
        "2021-07-11T09:17:13.000000+00:00",  # isoformat() drops a zero fraction
        "2021-07-11T09:17:13.120+00:00",
        "2021-07-11T09:17:13Z",
        "2021-07-11 09:17:13+00:00",
        "2021-07-11T11:17:13+02:00",
        "2021-07-11T09:17+00:00",
        "20210711T091713+00:00",
        "0999-01-01T00:00:00+00:00",
    ],
)
def test_the_archived_timestamp_is_always_isoformat_of_the_utc_time(timestamp: str) -> None:
    parsed = validate_event(json.loads(event(timestamp=timestamp)))

    assert utc_isoformat(parsed) == parsed.timestamp.isoformat()


@pytest.mark.parametrize("raw", [b' {"a": 1} ', b'{"a": 1}\n', b'\n\t{"a": 1}'])
def test_whitespace_around_a_payload_is_fine(raw: bytes) -> None:
    assert decode_payload(raw)[1] == {"a": 1}


@pytest.mark.parametrize("raw", [b'{"a": 1} x', b'{"a": 1}{}', b"   ", b'{"a": 1,}'])
def test_anything_but_one_json_value_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidEvent, match="not valid JSON"):
        decode_payload(raw)


@pytest.mark.parametrize("wrap", ['{{"user_id": {}}}', '[{{"user_id": {}}}]'])
def test_an_integer_too_long_to_read_is_named_without_pythons_settings(wrap: str) -> None:
    text = wrap.format("7" * 5000)

    for parse in (lambda: json_items(text), lambda: parse_event(text.encode())):
        with pytest.raises(InvalidEvent) as raised:
            parse()
        assert str(raised.value) == "not valid JSON: an integer of more than 4300 digits"
