"""JSON text to events: exact source bytes per array item, and the fast path for queued payloads.

The event contract (what a valid event is) lives in domain/events.py; this module is how
the bytes that carry events are read, so that each event keeps the exact bytes it came in.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable

import orjson

from imagelake.domain.errors import InvalidEvent
from imagelake.domain.events import ImageEvent, validate_event

_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's four whitespace characters
_SPACES = " \t\n\r"
_INT64 = 9.2e18  # orjson reads integers beyond 64 bits as floats, json keeps them whole


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_SCAN: Callable[[str, int], tuple[object, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def decode_text(raw: bytes) -> str:
    """The payload as text: UTF-8 only (RFC 8259), so that the text gives back the exact bytes."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"not UTF-8 text: {exc}") from None


def _json_error(exc: Exception) -> InvalidEvent:
    if isinstance(exc, RecursionError):
        return InvalidEvent("not valid JSON: nested too deeply")
    if "integer string conversion" in str(exc):  # its text names Python's sys settings
        digits = sys.get_int_max_str_digits()
        return InvalidEvent(f"not valid JSON: an integer of more than {digits} digits")
    return InvalidEvent(f"not valid JSON: {exc}")


def json_items(text: str) -> tuple[bool, list[tuple[object, str]]]:
    """Parse a JSON text: (is it an array, [(value, its exact source text)] per item).

    A non-array is one item whose source is the whole text. InvalidEvent if not JSON.
    """
    text = text.removeprefix("\ufeff")  # a byte order mark may be ignored (RFC 8259)
    try:
        start = _skip(text, 0)
        if not text.startswith("[", start):
            return False, [(_DECODER.decode(text), text)]
        items: list[tuple[object, str]] = []
        pos = _skip(text, start + 1)
        if not text.startswith("]", pos):
            scan, spaces = _SCAN, _SPACES
            while True:
                try:  # the C scanner itself: raw_decode() would cost half as much again
                    value, end = scan(text, pos)
                except StopIteration as stop:
                    raise json.JSONDecodeError("Expecting value", text, stop.value) from None
                items.append((value, text[pos:end]))
                pos = _skip(text, end) if text[end : end + 1] in spaces else end
                if text[pos : pos + 1] != ",":
                    break
                pos += 1
                if text[pos : pos + 1] in spaces:
                    pos = _skip(text, pos)
            if not text.startswith("]", pos):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
        if _skip(text, pos + 1) != len(text):
            raise json.JSONDecodeError("Extra data", text, pos + 1)
    except (ValueError, RecursionError) as exc:
        raise _json_error(exc) from None
    return True, items


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return match.end() if match else pos


def decode_payload(raw: bytes) -> tuple[str, object]:
    """One queued payload: its text and its decoded JSON value. InvalidEvent on failure."""
    try:  # orjson accepts no more than json does and, bar huge integers, gives the same values
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass  # json's verdict and message, below: a BOM, NaN, a lone surrogate escape...
    else:
        if _no_huge_floats(value):
            return raw.decode("utf-8"), value  # valid UTF-8, or orjson would have refused it
    text = decode_text(raw)
    body = text.removeprefix("\ufeff")
    try:
        try:  # the scanner straight away: decode() costs as much again in whitespace checks
            value, end = _SCAN(body, 0)
        except StopIteration:  # leading whitespace, or no value at all: the long way
            return text, _DECODER.decode(body)
        if end != len(body) and body[end:].strip(" \t\n\r"):
            raise json.JSONDecodeError("Extra data", body, end)
    except (ValueError, RecursionError) as exc:
        raise _json_error(exc) from None
    return text, value


def _no_huge_floats(value: object) -> bool:
    """True unless a float in value may be an integer orjson could not hold (json would)."""
    if type(value) is dict:  # an event: a flat object of strings, mostly
        for item in value.values():
            kind = type(item)
            if kind is str:
                continue
            if kind is float:
                if not -_INT64 < item < _INT64:
                    return False
            elif (kind is dict or kind is list) and not _no_huge_floats_deep(item):
                return False
        return True
    return _no_huge_floats_deep(value)


def _no_huge_floats_deep(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is float and not -_INT64 < item < _INT64:
            return False
    return True


def parse_event(raw: bytes) -> ImageEvent:
    """Decode and validate one raw payload exactly as it arrived on the queue."""
    return validate_event(decode_payload(raw)[1])
