"""The domain's rules: the event contract, content sniffing, signatures, keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from imagelake.codecs.event_json import parse_event
from imagelake.domain.errors import Forbidden, InvalidEvent, UnsupportedMediaType
from imagelake.domain.events import (
    EventName,
    build_event,
    idempotency_key,
    validate_event,
)
from imagelake.domain.images import (
    Image,
    ImageStatus,
    ThumbnailSpec,
    is_image_id,
    new_image_id,
    original_key,
    thumbnail_key,
)
from imagelake.domain.signing import Signer
from imagelake.domain.sniff import sniff_content_type

IMAGE_ID = "b9f08c7f-089e-4cbf-ba78-a89a6e586e86"
PAYLOAD: dict[str, Any] = {
    "event_name": "IMAGE_REQUESTED",
    "user_id": "42",
    "image_id": IMAGE_ID,
    "timestamp": "2021-07-11T09:17:13+00:00",
}


def payload(**changes: Any) -> dict[str, Any]:
    return {**PAYLOAD, **changes}


def test_the_documented_payload_is_valid() -> None:
    event = parse_event(json.dumps(PAYLOAD).encode())

    assert event.event_name is EventName.IMAGE_REQUESTED
    assert (event.user_id, event.image_id, event.event_id) == ("42", IMAGE_ID, None)
    assert event.timestamp == datetime(2021, 7, 11, 9, 17, 13, tzinfo=UTC)
    assert event.partition == "event_name=IMAGE_REQUESTED/dt=2021-07-11/hour=09"


@pytest.mark.parametrize("field", ["event_name", "user_id", "image_id", "timestamp"])
def test_each_required_field_is_required(field: str) -> None:
    incomplete = {k: v for k, v in PAYLOAD.items() if k != field}

    with pytest.raises(InvalidEvent, match=field):
        validate_event(incomplete)


@pytest.mark.parametrize("field", ["user_id", "image_id"])
@pytest.mark.parametrize("value", ["", "   ", None, True, 4.2, ["42"], "x" * 257])
def test_ids_must_be_short_non_empty_strings(field: str, value: object) -> None:
    with pytest.raises(InvalidEvent, match=field):
        validate_event(payload(**{field: value}))


def test_an_integer_user_id_is_accepted_as_text() -> None:
    assert validate_event(payload(user_id=42)).user_id == "42"


@pytest.mark.parametrize("timestamp", ["yesterday", "2021-13-01T00:00:00+00:00", 1626000000, ""])
def test_a_bad_timestamp_is_refused(timestamp: object) -> None:
    with pytest.raises(InvalidEvent, match="timestamp"):
        validate_event(payload(timestamp=timestamp))


def test_a_timestamp_without_time_zone_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="time zone"):
        validate_event(payload(timestamp="2021-07-11T09:17:13"))


@pytest.mark.parametrize(
    ("timestamp", "utc_hour"), [("2021-07-11T09:17:13Z", 9), ("2021-07-11T11:17:13+02:00", 9)]
)
def test_timestamps_are_converted_to_utc(timestamp: str, utc_hour: int) -> None:
    event = validate_event(payload(timestamp=timestamp))

    assert event.timestamp.tzinfo == UTC
    assert event.timestamp.hour == utc_hour


@pytest.mark.parametrize("name", ["IMAGE_VIEWED", "image_requested", "", None, 3])
def test_an_unknown_event_name_is_refused(name: object) -> None:
    with pytest.raises(InvalidEvent, match="event_name"):
        validate_event(payload(event_name=name))


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"])
def test_what_is_not_a_json_object_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidEvent):
        parse_event(raw)


def test_extra_fields_are_kept() -> None:
    event = validate_event(payload(referrer="https://example.com", event_id="evt-1"))

    assert event.fields["referrer"] == "https://example.com"
    assert event.event_id == "evt-1"


def test_idempotency_key_prefers_the_event_id() -> None:
    assert idempotency_key(b"anything", "evt-1") == "id:evt-1"
    assert idempotency_key(b"other bytes", "evt-1") == "id:evt-1"


def test_idempotency_key_without_event_id_hashes_the_raw_bytes() -> None:
    compact = json.dumps(PAYLOAD).encode()
    pretty = json.dumps(PAYLOAD, indent=2).encode()

    assert idempotency_key(compact, None) == idempotency_key(compact, None)
    assert idempotency_key(compact, None).startswith("sha256:")
    assert idempotency_key(compact, None) != idempotency_key(pretty, None)
    assert idempotency_key(compact, "") == idempotency_key(compact, None)


def test_built_events_parse_back() -> None:
    at = datetime(2021, 7, 11, 9, 17, 13, tzinfo=UTC)

    raw = build_event(EventName.THUMBNAIL_CREATED, "7", IMAGE_ID, at, size=128)
    event = parse_event(raw)

    assert (event.event_name, event.user_id, event.timestamp) == ("THUMBNAIL_CREATED", "7", at)
    assert event.fields["size"] == 128


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"II*\x00\x08\x00\x00\x00", "image/tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00", "image/avif"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00", "image/heic"),
    ],
)
def test_sniffing_tells_each_format(head: bytes, content_type: str) -> None:
    assert sniff_content_type(head) == content_type


@pytest.mark.parametrize(
    "head",
    [b"", b"%PDF-1.7", b"<svg xmlns=", b"RIFF\x00\x00\x00\x00WAVE", b"\x00\x00\x00\x18ftypmp42"],
)
def test_sniffing_refuses_what_is_not_a_supported_image(head: bytes) -> None:
    with pytest.raises(UnsupportedMediaType):
        sniff_content_type(head)


NOW = 1_700_000_000.0


def test_a_signature_verifies() -> None:
    signer = Signer(b"secret")
    expires, signature = signer.sign("originals/a.jpg", NOW, 60)

    assert expires == int(NOW) + 60
    signer.verify("originals/a.jpg", expires, signature, now=NOW + 59)


@pytest.mark.parametrize(
    ("key", "expires_delta", "signature_change"),
    [("originals/b.jpg", 0, ""), ("originals/a.jpg", 1, ""), ("originals/a.jpg", 0, "00")],
)
def test_a_tampered_signature_is_forbidden(
    key: str, expires_delta: int, signature_change: str
) -> None:
    signer = Signer(b"secret")
    expires, signature = signer.sign("originals/a.jpg", NOW, 60)
    tampered = (
        signature[: -len(signature_change)] + signature_change if signature_change else signature
    )

    with pytest.raises(Forbidden, match="invalid"):
        signer.verify(key, expires + expires_delta, tampered, now=NOW)


def test_an_expired_signature_is_forbidden() -> None:
    signer = Signer(b"secret")
    expires, signature = signer.sign("a.jpg", NOW, 60)

    with pytest.raises(Forbidden, match="expired"):
        signer.verify("a.jpg", expires, signature, now=NOW + 61)


def test_rotation_accepts_links_signed_with_a_previous_secret() -> None:
    expires, signature = Signer(b"old").sign("a.jpg", NOW, 60)

    Signer(b"new", (b"old",)).verify("a.jpg", expires, signature, now=NOW)
    with pytest.raises(Forbidden):
        Signer(b"new").verify("a.jpg", expires, signature, now=NOW)
    new_expires, new_signature = Signer(b"new", (b"old",)).sign("a.jpg", NOW, 60)
    with pytest.raises(Forbidden):
        Signer(b"old").verify("a.jpg", new_expires, new_signature, now=NOW)


def test_image_ids_and_keys() -> None:
    image_id = new_image_id()
    spec = ThumbnailSpec(sizes=(128,), format="webp")

    assert is_image_id(image_id) and not is_image_id("../etc") and not is_image_id(image_id.upper())
    assert original_key(image_id, "image/png") == f"originals/{image_id}.png"
    assert original_key(image_id, "image/x-unknown") == f"originals/{image_id}.bin"
    # An upload-time thumbnail is stored where a delivery of `size=128` looks for it.
    assert thumbnail_key(image_id, 128, spec) == f"thumbnails/{image_id}/v/128x128-inside-q82.webp"
    assert ThumbnailSpec().content_type == "image/jpeg"


def test_image_status_changes() -> None:
    at = datetime(2021, 7, 11, tzinfo=UTC)
    image = Image(IMAGE_ID, "0" * 64, "image/jpeg", 10, 20, 300, at)

    failed = image.failed("bad pixels")
    ready = failed.ready({128: "thumbnails/x/128.jpg"})

    assert (failed.status, failed.failure_reason) == (ImageStatus.FAILED, "bad pixels")
    assert (ready.status, ready.failure_reason) == (ImageStatus.READY, None)
    assert ready.thumbnails == {128: "thumbnails/x/128.jpg"}
    assert image.original_key == f"originals/{IMAGE_ID}.jpg"
