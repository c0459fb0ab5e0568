"""The pure parts of the AWS adapters: item and message formats, error translation, config."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from imagelake.adapters.aws import clients as aws_clients
from imagelake.adapters.aws import dynamodb_codec as schema
from imagelake.adapters.aws.sns import subject_line
from imagelake.adapters.aws.sqs_codec import (
    BATCH,
    REDRIVE_REASON,
    chunks,
    dead_letter_entry,
    decode_body,
    encode_body,
    replay_entry,
    to_dead_letter,
    to_message,
)
from imagelake.domain.errors import BackendError, InvalidInput, NotFound
from imagelake.domain.images import ApiKey, DashboardSession, Image, ImageStatus
from imagelake.ports import Message

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageTypeDef

T0 = datetime(2021, 7, 11, 9, 17, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        b'{"event_name": "IMAGE_REQUESTED"}',
        "été 🎉".encode(),
        b"\x00\x01binary\xff",
        b"text with a \x01 control character",
        b"",
        b"\n\t\r",
    ],
)
def test_every_body_survives_sqs_text(body: bytes) -> None:
    text, attributes = encode_body(body)

    assert text  # SQS refuses an empty body
    assert decode_body(text, attributes) == body


def test_utf8_json_travels_as_is_for_other_consumers() -> None:
    assert encode_body(b'{"a": "\xc3\xa9"}') == ('{"a": "é"}', {})


def test_base64_marker_from_a_careless_producer_keeps_the_text() -> None:
    marked = {"body_encoding": {"DataType": "String", "StringValue": "base64"}}

    assert decode_body("not base64!", marked) == b"not base64!"


def test_batches_hold_at_most_ten_and_stay_under_the_size_limit() -> None:
    small = [encode_body(b"x") for _ in range(25)]
    big = [encode_body(b"y" * 100_000) for _ in range(5)]

    assert [len(c) for c in chunks(small)] == [BATCH, BATCH, 5]
    assert [len(c) for c in chunks(big)] == [2, 2, 1]
    assert list(chunks([])) == []


def raw_sqs(body: str, attributes: dict[str, Any], receive_count: str = "1") -> MessageTypeDef:
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": body,
        "MessageAttributes": attributes,
        "Attributes": {"ApproximateReceiveCount": receive_count, "SentTimestamp": "1626000000000"},
    }


def test_message_from_sqs() -> None:
    text, attributes = encode_body(b"\xff")

    message = to_message(raw_sqs(text, attributes, receive_count="3"))

    assert message == Message("m-1", b"\xff", "r-1", 3, 1626000000.0)


def test_dead_letter_round_trip() -> None:
    message = Message("m-0", b"\x00{not json", "r-0", 4, 1625999999.5)
    body, attributes = dead_letter_entry(message, "not valid JSON", dead_at=1626000000.25)

    dead = to_dead_letter(raw_sqs(body, attributes), redrive_max_receives=5)

    assert (dead.dead_letter_id, dead.body, dead.reason) == ("m-1", message.body, "not valid JSON")
    assert (dead.attempts, dead.sent_at, dead.dead_at) == (4, 1625999999.5, 1626000000.25)
    assert replay_entry(raw_sqs(body, attributes)) == encode_body(message.body)


def test_dead_letter_moved_by_the_redrive_policy_says_so() -> None:
    dead = to_dead_letter(raw_sqs("payload", {}), redrive_max_receives=5)

    assert (dead.body, dead.reason, dead.attempts) == (b"payload", REDRIVE_REASON, 5)


@pytest.mark.parametrize(
    ("subject", "line"),
    [
        ("Dead letter in events", "Dead letter in events"),
        ("two\nlines\r\n", "two lines"),
        ("café ☕  done", "cafe done"),
        ("x" * 150, "x" * 100),
        ("\n\n", "imagelake"),
    ],
)
def test_sns_subjects_are_one_printable_ascii_line(subject: str, line: str) -> None:
    assert subject_line(subject) == line


def make_image(**changes: Any) -> Image:
    image = Image("id-1", "ab" * 32, "image/png", 640, 480, 1234, T0, owner="u1")
    return image if not changes else Image(**{**image.__dict__, **changes})


@pytest.mark.parametrize(
    "image",
    [
        make_image(),
        make_image(status=ImageStatus.READY, thumbnails={128: "t/128.jpg", 512: "t/512.jpg"}),
        make_image(status=ImageStatus.FAILED, failure_reason="decoder crashed"),
    ],
)
def test_image_items_round_trip(image: Image) -> None:
    assert schema.to_image(schema.image_item(image)) == image


def test_image_times_are_stored_in_utc() -> None:
    local = T0.astimezone(timezone(timedelta(hours=-5)))

    stored = schema.to_image(schema.image_item(make_image(created_at=local)))

    assert stored.created_at == T0 and stored.created_at.utcoffset() == timedelta(0)


def test_sortable_times_sort_like_times() -> None:
    times = [T0, T0 + timedelta(microseconds=1), T0 + timedelta(seconds=1), T0 - timedelta(days=1)]

    assert sorted(times, key=schema.sortable) == sorted(times)
    assert all(schema.from_sortable(schema.sortable(t)) == t for t in times)


def test_an_image_of_nobody_has_no_owner_attribute() -> None:
    item = schema.image_item(make_image(owner=""))  # an index key may not be empty

    assert "owner" not in item
    assert schema.to_image(item).owner == ""
    assert schema.to_image({**item, "owner": {"S": ""}}).owner == ""  # as older releases wrote


def test_locks_are_per_owner_and_never_the_form_from_before_owners() -> None:
    mine, theirs = schema.lock_pk("u1", "ab" * 32), schema.lock_pk("u2", "ab" * 32)

    assert mine != theirs
    assert schema.lock_pk("", "ab" * 32) != schema.SHA256_LOCK + "ab" * 32


def test_api_key_items_round_trip() -> None:
    keys = [
        ApiKey("k1", "h1", "u1", T0),
        ApiKey("k2", "h2", "u2", T0, "a@b.c", True),
        ApiKey("k3", "h3", "u3", T0, role="producer"),
    ]
    for key in keys:
        assert schema.to_key(schema.key_item(key)) == key


@pytest.mark.parametrize(("user_id", "role"), [("admin", "admin"), ("alice", "user")])
def test_keys_from_before_roles_get_one(user_id: str, role: str) -> None:
    item = schema.key_item(ApiKey("k1", "h1", user_id, T0))
    del item["role"]

    assert schema.to_key(item).role == role


def test_session_items_round_trip_and_expire_after_they_end() -> None:
    ends = T0.astimezone(timezone(timedelta(hours=2))) + timedelta(days=7, microseconds=5)
    session = DashboardSession("s1", "h1", T0, ends)

    item = schema.session_item(session)

    assert schema.to_session(item) == session
    assert schema.to_session(item).expires_at.utcoffset() == timedelta(0)
    assert int(item[schema.TTL_ATTRIBUTE]["N"]) == int(ends.timestamp()) + 1


def test_cursor_round_trip() -> None:
    item = schema.image_item(make_image())

    start = schema.decode_cursor(schema.encode_cursor(item))

    assert start == {name: item[name] for name in ("pk", "gsi", "created_key")}


def test_owner_cursor_round_trip_for_that_owner_only() -> None:
    item = schema.image_item(make_image())
    cursor = schema.encode_cursor(item, "u1")

    assert schema.decode_cursor(cursor, "u1") == {
        name: item[name] for name in ("pk", "owner", "created_key")
    }
    for owner in ("u2", None):
        with pytest.raises(InvalidInput):
            schema.decode_cursor(cursor, owner)
    with pytest.raises(InvalidInput):
        schema.decode_cursor(schema.encode_cursor(item), "u1")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(json.dumps({"pk": "x"}).encode()).decode(),
        base64.urlsafe_b64encode(
            json.dumps({"pk": "x", "gsi": "other", "created_key": "y"}).encode()
        ).decode(),
    ],
)
def test_bad_cursors_are_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        schema.decode_cursor(cursor)


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "because"}}, "Operation")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("404"), NotFound),
        (client_error("NoSuchKey"), NotFound),
        (client_error("ValidationException"), InvalidInput),
        (client_error("NoSuchBucket"), BackendError),  # a misconfiguration, not a 404
        (client_error("ResourceNotFoundException"), BackendError),
        (client_error("ThrottlingException"), BackendError),
        (EndpointConnectionError(endpoint_url="http://nowhere"), BackendError),
    ],
)
def test_aws_errors_become_ours(error: Exception, expected: type[Exception]) -> None:
    with pytest.raises(expected, match="read the thing"), aws_clients.aws_errors("read the thing"):
        raise error


def test_endpoint_for_one_service_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://all:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-only:2")

    assert aws_clients.endpoint_url("s3") == "http://s3-only:2"
    assert aws_clients.endpoint_url("sqs") == "http://all:1"


def test_region_defaults_to_us_east_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert aws_clients.region() == "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert aws_clients.region() == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert aws_clients.region() == "eu-central-1"


def test_s3_uses_path_style_only_at_a_custom_endpoint() -> None:
    emulated: Any = aws_clients.client_config("s3", "http://localhost:5000")
    real: Any = aws_clients.client_config("s3", None)
    sqs: Any = aws_clients.client_config("sqs", "http://localhost:5000")

    assert emulated.s3 == {"addressing_style": "path"}
    assert real.s3 == {"addressing_style": "auto"}
    assert emulated.signature_version == "s3v4"
    assert sqs.signature_version is None  # s3v4 signs only S3 requests
    assert emulated.retries == {"mode": "standard", "max_attempts": 5}
    assert sqs.read_timeout > 20  # a 20 s long poll must not time out
    assert sqs.max_pool_connections == 50
