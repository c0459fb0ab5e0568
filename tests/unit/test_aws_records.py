"""Lambda's event shapes as our types: SQS records, S3 notifications, a Pipe's batch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from imagelake.adapters.aws.sqs_codec import encode_body
from imagelake.aws.records import S3Object, s3_objects, sqs_records, to_message


def record(body: str, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1625995033000"},
        "messageAttributes": attributes or {},
    }


def test_a_record_becomes_a_message_with_its_delivery_count() -> None:
    message = to_message(record('{"image_id": "x"}'))

    assert (message.message_id, message.receipt, message.body) == (
        "m-1",
        "r-1",
        b'{"image_id": "x"}',
    )
    assert (message.receive_count, message.sent_at) == (3, 1625995033.0)


def test_bytes_the_queue_adapter_sent_base64_come_back_exact() -> None:
    raw = b"\xff\xfe not utf-8"
    text, attributes = encode_body(raw)
    # Lambda spells message attributes in camelCase.
    lambda_attributes = {
        name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
        for name, value in attributes.items()
    }

    assert to_message(record(text, lambda_attributes)).body == raw


def test_s3_keys_are_decoded_once_however_s3_encoded_them() -> None:
    body = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Post",
                "s3": {"bucket": {"name": "b"}, "object": {"key": "tenant%2Fincoming%2Fa+b%2B"}},
            }
        ]
    }

    assert s3_objects(json.dumps(body)) == [
        S3Object(bucket="b", key="tenant/incoming/a b+", event_name="ObjectCreated:Post")
    ]


def test_the_s3_test_event_names_no_object_and_other_bodies_are_no_notification() -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}

    assert s3_objects(json.dumps(test_event)) == []
    assert s3_objects('{"image_id": "x"}') is None
    assert s3_objects('{"Records": [{"eventSource": "aws:sqs"}]}') is None
    assert s3_objects("not json") is None


def test_a_pipe_batch_a_lambda_event_and_a_state_payload_all_hold_records() -> None:
    one = record("{}")

    assert sqs_records([one]) == [one]
    assert sqs_records({"Records": [one]}) == [one]
    assert sqs_records({"records": [one], "batchItemFailures": []}) == [one]
    with pytest.raises(ValueError, match="SQS records"):
        sqs_records({"detail": {}})
