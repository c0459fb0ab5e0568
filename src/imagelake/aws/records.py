"""What Lambda hands us, as our own types: SQS records as Messages, S3 notifications as keys."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from imagelake.adapters.aws.sqs_codec import decode_body
from imagelake.ports import Message

S3_TEST_EVENT = "s3:TestEvent"


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    event_name: str


def to_message(record: Mapping[str, Any]) -> Message:
    """One SQS record, as Lambda and EventBridge Pipes deliver it (camelCase keys)."""
    attributes = record.get("attributes") or {}
    # Lambda spells message attributes in camelCase; the adapter reads SQS API's PascalCase.
    message_attributes = {
        name: {"StringValue": value.get("stringValue"), "DataType": value.get("dataType")}
        for name, value in (record.get("messageAttributes") or {}).items()
    }
    return Message(
        message_id=str(record["messageId"]),
        body=decode_body(str(record.get("body", "")), message_attributes),
        receipt=str(record.get("receiptHandle", "")),
        receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
        sent_at=int(attributes.get("SentTimestamp", 0)) / 1000,
    )


def sqs_records(payload: object) -> list[dict[str, Any]]:
    """The SQS records in a Lambda event, a Pipe's batch (a list) or a state's payload."""
    if isinstance(payload, list):
        return [dict(r) for r in payload]
    if isinstance(payload, dict):
        for name in ("Records", "records"):
            if isinstance(payload.get(name), list):
                return [dict(r) for r in payload[name]]
    raise ValueError("expected a list of SQS records, or an object with 'Records' or 'records'")


def s3_objects(body: str) -> list[S3Object] | None:
    """The objects an S3 event notification names; [] for S3's test event; None if the body
    is no S3 notification at all."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    if payload.get("Event") == S3_TEST_EVENT:
        return []
    records = payload.get("Records")
    if not isinstance(records, list) or not records:
        return None
    found = []
    for record in records:
        s3 = record.get("s3") if isinstance(record, dict) else None
        if not isinstance(s3, dict) or record.get("eventSource") != "aws:s3":
            return None
        found.append(
            S3Object(
                bucket=str(s3["bucket"]["name"]),
                # Keys arrive form-encoded ('%2F', '+' for space), whoever sent the event.
                key=unquote_plus(str(s3["object"]["key"])),
                event_name=str(record.get("eventName", "")),
            )
        )
    return found
