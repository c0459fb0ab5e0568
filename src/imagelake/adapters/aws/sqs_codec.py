"""How our messages and dead letters travel as SQS text bodies and message attributes."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias

from imagelake.ports import DeadLetter, Message

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueUnionTypeDef, MessageTypeDef

BATCH = 10  # SQS's limit on messages per batch call
BATCH_BYTES = 256 * 1024  # SQS's limit on one batch's payload
REDRIVE_REASON = "exceeded max receives (redrive policy)"

Attributes: TypeAlias = "dict[str, MessageAttributeValueUnionTypeDef]"
Entry: TypeAlias = "tuple[str, Attributes]"  # body text, message attributes

# Characters SQS accepts in a message body; anything else travels base64-encoded.
_NOT_SQS_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def encode_body(body: bytes) -> Entry:
    """SQS bodies are text: UTF-8 goes as is, other bytes base64 with a marking attribute."""
    if not body:
        return "-", string_attributes(body_encoding="empty")  # SQS refuses empty bodies
    try:
        text = body.decode("utf-8")
        if not _NOT_SQS_TEXT.search(text):
            return text, {}
    except UnicodeDecodeError:
        pass
    return base64.b64encode(body).decode("ascii"), string_attributes(body_encoding="base64")


def decode_body(text: str, attributes: Mapping[str, Mapping[str, object]]) -> bytes:
    """A body encode_body made; attributes as the SQS API or Lambda (camelCase) spell them."""
    encoding = attributes.get("body_encoding", {}).get("StringValue")
    if encoding == "empty":
        return b""
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            pass  # marked by a producer that did not mean it: keep what arrived
    return text.encode("utf-8")


def string_attributes(**values: str) -> Attributes:
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}


def dead_letter_entry(message: Message, reason: str, dead_at: float) -> Entry:
    """The DLQ copy of message: same body, plus why and when it died."""
    body, attributes = encode_body(message.body)
    attributes |= string_attributes(reason=reason[:4096] or "-", source_id=message.message_id)
    attributes |= _numbers(attempts=message.receive_count, sent_at=message.sent_at, dead_at=dead_at)
    return body, attributes


def _numbers(**values: float) -> Attributes:
    return {k: {"DataType": "Number", "StringValue": repr(v)} for k, v in values.items()}


def replay_entry(raw: MessageTypeDef) -> Entry:
    """A dead letter as a fresh message for the main queue: its body, no death notes."""
    attributes = raw.get("MessageAttributes", {})
    return raw["Body"], {k: v for k, v in attributes.items() if k == "body_encoding"}


def to_message(raw: MessageTypeDef) -> Message:
    return Message(
        message_id=raw["MessageId"],
        body=decode_body(raw["Body"], raw.get("MessageAttributes", {})),
        receipt=raw["ReceiptHandle"],
        receive_count=int(raw["Attributes"]["ApproximateReceiveCount"]),
        sent_at=int(raw["Attributes"]["SentTimestamp"]) / 1000,
    )


def to_dead_letter(raw: MessageTypeDef, redrive_max_receives: int) -> DeadLetter:
    attributes = raw.get("MessageAttributes", {})
    body = decode_body(raw["Body"], attributes)
    dead_at = int(raw["Attributes"]["SentTimestamp"]) / 1000
    if "reason" not in attributes:  # moved by SQS's redrive policy, not by dead_letter()
        # SQS keeps the original send time and records no move time: both are the send.
        return DeadLetter(
            raw["MessageId"], body, REDRIVE_REASON, redrive_max_receives, dead_at, dead_at
        )
    return DeadLetter(
        dead_letter_id=raw["MessageId"],
        body=body,
        reason=attributes["reason"]["StringValue"],
        attempts=int(attributes["attempts"]["StringValue"]),
        sent_at=float(attributes["sent_at"]["StringValue"]),
        # Our own clock to the microsecond: SentTimestamp's milliseconds can tie.
        dead_at=float(attributes["dead_at"]["StringValue"]) if "dead_at" in attributes else dead_at,
    )


def chunks(entries: Sequence[Entry]) -> Iterator[list[Entry]]:
    """Entries in batches SQS accepts: at most BATCH messages and about BATCH_BYTES."""
    chunk: list[Entry] = []
    size = 0
    for body, attributes in entries:
        length = len(body.encode("utf-8")) + 64 * len(attributes)
        if chunk and (len(chunk) == BATCH or size + length > BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((body, attributes))
        size += length
    if chunk:
        yield chunk
