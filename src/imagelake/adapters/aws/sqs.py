"""Queue on SQS, with the dead-letter store on a second queue named `<name>-dlq`."""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from imagelake.adapters.aws.clients import aws_errors, error_code, translate
from imagelake.adapters.aws.sqs_codec import (
    BATCH,
    Entry,
    chunks,
    dead_letter_entry,
    encode_body,
    replay_entry,
    to_dead_letter,
    to_message,
)
from imagelake.domain.errors import BackendError, InvalidInput, NotFound
from imagelake.ports import DeadLetter, Message

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import MessageSystemAttributeNameType, QueueAttributeNameType
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
        MessageTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

MAX_VISIBILITY = 12 * 3600
MAX_WAIT = 20  # SQS's longest long poll
SCAN_VISIBILITY = 60  # dead letters stay hidden this long while we page through them
SCAN_CAP = 1000  # dead letters read to find the newest ones
RETENTION = str(14 * 24 * 3600)
STALE_RECEIPT = frozenset({"ReceiptHandleIsInvalid", "InvalidParameterValue"})
# Visible again but not yet redelivered: the receipt is still the latest one.
NOT_IN_FLIGHT = "AWS.SimpleQueueService.MessageNotInflight"
NO_SUCH_QUEUE = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
SYSTEM_ATTRIBUTES: list[MessageSystemAttributeNameType] = [
    "ApproximateReceiveCount",
    "SentTimestamp",
]


def _seconds(value: float) -> int:
    return min(max(math.ceil(value), 0), MAX_VISIBILITY)


class SqsQueue:
    def __init__(self, client: SQSClient, queue_name: str) -> None:
        self._sqs = client
        self.name = queue_name
        self.dlq_name = f"{queue_name}-dlq"

    @functools.cached_property
    def _url(self) -> str:
        return self._lookup(self.name)

    @functools.cached_property
    def _dlq_url(self) -> str:
        return self._lookup(self.dlq_name)

    def send(self, bodies: Sequence[bytes]) -> None:
        self._send(self._url, [encode_body(body) for body in bodies])

    def receive(
        self, max_messages: int, visibility_timeout: float, wait: float = 0
    ) -> list[Message]:
        if max_messages < 1 or visibility_timeout < 0:
            raise InvalidInput("max_messages must be >= 1 and visibility_timeout >= 0")
        messages: list[Message] = []
        deadline = time.monotonic() + max(wait, 0)
        while len(messages) < max_messages:
            wanted = min(BATCH, max_messages - len(messages))
            left = 0.0 if messages else deadline - time.monotonic()
            wait_seconds = min(math.ceil(max(left, 0)), MAX_WAIT)
            batch = self._receive(self._url, wanted, _seconds(visibility_timeout), wait_seconds)
            messages.extend(to_message(raw) for raw in batch)
            if not batch and left > MAX_WAIT:
                continue  # one long poll is 20 s at most: keep waiting as asked
            if len(batch) < wanted or visibility_timeout <= 0:
                break  # nothing more to give now; or the next call would return the same
        return messages

    def ack(self, messages: Sequence[Message]) -> None:
        self._delete(self._url, list(dict.fromkeys(m.receipt for m in messages)))

    def retry(self, message: Message, delay: float) -> None:
        if delay < 0:
            raise InvalidInput("delay must be >= 0")
        self._hide(message.receipt, _seconds(delay))

    def dead_letter(self, message: Message, reason: str) -> None:
        # Holding the message first both proves the receipt is still ours and keeps it
        # from being redelivered between the copy and the delete.
        if not self._hide(message.receipt, SCAN_VISIBILITY):
            return
        self._send(self._dlq_url, [dead_letter_entry(message, reason, time.time())])
        self._delete(self._url, [message.receipt])

    def depth(self) -> int:
        return self._count(
            self._url,
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        found: list[DeadLetter] = []
        receipts: list[str] = []
        try:
            for batch in self._scan_dead_letters(max(limit, SCAN_CAP)):
                receipts.extend(raw["ReceiptHandle"] for raw in batch)
                found.extend(to_dead_letter(raw, self._max_receives) for raw in batch)
        finally:
            self._release(receipts)
        found.sort(key=lambda d: (d.dead_at, d.dead_letter_id), reverse=True)
        return found[:limit]

    def replay(self, dead_letter_id: str | None = None) -> int:
        replayed = 0
        passed_over: list[str] = []
        try:
            for batch in self._scan_dead_letters():
                chosen = [m for m in batch if dead_letter_id in (None, m["MessageId"])]
                passed_over.extend(m["ReceiptHandle"] for m in batch if m not in chosen)
                self._send(self._url, [replay_entry(m) for m in chosen])
                self._delete(self._dlq_url, [m["ReceiptHandle"] for m in chosen])
                replayed += len(chosen)
                if dead_letter_id is not None and chosen:
                    break
        finally:
            self._release(passed_over)
        if dead_letter_id is not None and not replayed:
            raise NotFound(f"no dead letter {dead_letter_id} in queue {self.name}")
        return replayed

    def purge_dead_letters(self) -> int:
        purged = 0
        for batch in self._scan_dead_letters():
            self._delete(self._dlq_url, [m["ReceiptHandle"] for m in batch])
            purged += len(batch)
        return purged

    def close(self) -> None:
        pass

    def provision(self, max_receives: int) -> list[str]:
        """Create the queue and its dead-letter queue (idempotent); say what was done."""
        dlq_url, dlq_state = self._create(self.dlq_name, {"MessageRetentionPeriod": RETENTION})
        with aws_errors(f"read the ARN of {self.dlq_name}"):
            response = self._sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
        policy = {
            "deadLetterTargetArn": response["Attributes"]["QueueArn"],
            "maxReceiveCount": str(max_receives),
        }
        _, state = self._create(
            self.name, {"MessageRetentionPeriod": RETENTION, "RedrivePolicy": json.dumps(policy)}
        )
        for cached in ("_url", "_dlq_url", "_max_receives"):
            self.__dict__.pop(cached, None)
        return [
            f"sqs queue {self.dlq_name}: {dlq_state}",
            f"sqs queue {self.name}: {state}; dead letters go to {self.dlq_name} "
            f"after {max_receives} receives",
        ]

    def _create(self, name: str, attributes: dict[QueueAttributeNameType, str]) -> tuple[str, str]:
        with aws_errors(f"create sqs queue {name}"):
            try:
                url: str = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError as exc:
                if error_code(exc) not in NO_SUCH_QUEUE:
                    raise
                url = self._sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
                return url, "created"
            self._sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
            return url, "exists (attributes updated)"

    def _lookup(self, name: str) -> str:
        with aws_errors(f"find sqs queue {name} (run `imagelake aws provision`?)"):
            url: str = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            return url

    def _send(self, url: str, entries: Sequence[Entry]) -> None:
        for chunk in chunks(entries):
            batch: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "MessageBody": body, "MessageAttributes": attributes}
                for i, (body, attributes) in enumerate(chunk)
            ]
            with aws_errors(f"send to sqs queue {self.name}"):
                response = self._sqs.send_message_batch(QueueUrl=url, Entries=batch)
            if response.get("Failed"):
                failure = response["Failed"][0]
                raise BackendError(
                    f"sqs refused {len(response['Failed'])} of {len(batch)} messages: "
                    f"{failure.get('Code')}: {failure.get('Message', '')}"
                )

    def _receive(self, url: str, count: int, visibility: int, wait: int) -> list[MessageTypeDef]:
        with aws_errors(f"receive from sqs queue {self.name}"):
            response = self._sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=count,
                VisibilityTimeout=visibility,
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=SYSTEM_ATTRIBUTES,
                MessageAttributeNames=["All"],
            )
        return response.get("Messages", [])

    def _delete(self, url: str, receipts: Sequence[str]) -> None:
        for start in range(0, len(receipts), BATCH):
            entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": r}
                for i, r in enumerate(receipts[start : start + BATCH])
            ]
            with aws_errors(f"delete from sqs queue {self.name}"):
                response = self._sqs.delete_message_batch(QueueUrl=url, Entries=entries)
            # A stale receipt means the message was redelivered or deleted already.
            failed = [f for f in response.get("Failed", []) if f.get("Code") not in STALE_RECEIPT]
            if failed:
                raise BackendError(f"sqs could not delete a message: {failed[0].get('Message')}")

    def _hide(self, receipt: str, seconds: int) -> bool:
        """Set the receipt's visibility timeout; False when the receipt is no longer held."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=receipt, VisibilityTimeout=seconds
            )
        except ClientError as exc:
            if error_code(exc) == NOT_IN_FLIGHT:
                return True
            if error_code(exc) in STALE_RECEIPT:
                return False
            raise translate(exc, f"change visibility in sqs queue {self.name}") from exc
        return True

    def _release(self, dlq_receipts: Sequence[str]) -> None:
        """Make dead letters we only looked at visible again at once."""
        for start in range(0, len(dlq_receipts), BATCH):
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0}
                for i, r in enumerate(dlq_receipts[start : start + BATCH])
            ]
            with aws_errors(f"release dead letters of {self.name}"):
                self._sqs.change_message_visibility_batch(QueueUrl=self._dlq_url, Entries=entries)

    def _count(self, url: str, *names: QueueAttributeNameType) -> int:
        with aws_errors(f"read the depth of sqs queue {self.name}"):
            response = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
        return sum(int(response["Attributes"].get(name, 0)) for name in names)

    def _scan_dead_letters(self, limit: int | None = None) -> Iterator[list[MessageTypeDef]]:
        """Batches of the dead letters visible now, each held for SCAN_VISIBILITY seconds."""
        expected = self._count(self._dlq_url, "ApproximateNumberOfMessages")
        seen = 0
        empty_polls = 0
        while seen < expected and (limit is None or seen < limit) and empty_polls < 2:
            # A short poll may miss messages on a small queue; a long poll asks every server.
            batch = self._receive(self._dlq_url, BATCH, SCAN_VISIBILITY, empty_polls)
            empty_polls = 0 if batch else empty_polls + 1
            seen += len(batch)
            if batch:
                yield batch

    @functools.cached_property
    def _max_receives(self) -> int:
        with aws_errors(f"read the redrive policy of {self.name}"):
            response = self._sqs.get_queue_attributes(
                QueueUrl=self._url, AttributeNames=["RedrivePolicy"]
            )
        policy = json.loads(response["Attributes"].get("RedrivePolicy", "{}"))
        return int(policy.get("maxReceiveCount", 0))
