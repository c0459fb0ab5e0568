"""Request statistics on DynamoDB, each event counted once however often it is delivered.

Per batch of records (one per key: RequestTally drops the repeats), folded per image by tally():
1. first/last request times move by conditional updates. min and max are idempotent, so
   doing them before the count is safe: a redelivery after a crash just repeats them.
2. One transaction per chunk puts the idempotency records (`attribute_not_exists`),
   new (image, user) pairs, and ADDs the counters. It commits all or nothing, so no crash
   can count an event without marking it seen, or the reverse. A cancelled transaction
   names the items whose condition failed: those events were seen, those users known.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from imagelake.adapters.aws.clients import aws_errors, error_code, translate
from imagelake.adapters.aws.dynamodb_codec import (
    TTL_ATTRIBUTE,
    Tables,
    from_sortable,
    n,
    s,
    sortable,
)
from imagelake.adapters.tally import ImageTally, RequestTally, tally
from imagelake.domain.errors import BackendError
from imagelake.domain.events import ImageStats, RequestRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        KeysAndAttributesUnionTypeDef,
        TransactWriteItemTypeDef,
    )

CHUNK = 30  # records per transaction: at most 3 actions each, within the limit of 100
ATTEMPTS = 10
SEEN_TTL = 90 * 24 * 3600  # far beyond SQS retention (14 days) plus a dead-letter replay

Pair = tuple[str, str]  # (image_id, user_id)


class DynamoDBStats(RequestTally):
    def __init__(self, client: DynamoDBClient, tables: Tables, seen_ttl: int = SEEN_TTL) -> None:
        self._db = client
        self._tables = tables
        self._seen_ttl = seen_ttl

    def _count(self, batch: list[RequestRecord]) -> int:
        for image in tally(batch):  # seen or not: min and max are idempotent
            self._move_bounds(image)
        return sum(self._commit(batch[i : i + CHUNK]) for i in range(0, len(batch), CHUNK))

    def _read_stats(self, image_id: str) -> ImageStats | None:
        with aws_errors(f"read the stats of image {image_id}"):
            response = self._db.get_item(
                TableName=self._tables.stats, Key={"image_id": s(image_id)}, ConsistentRead=True
            )
        item = response.get("Item")
        if item is None or "request_count" not in item:
            return None
        return ImageStats(
            image_id=image_id,
            request_count=int(item["request_count"]["N"]),
            unique_users=int(item["unique_users"]["N"]),
            first_requested_at=from_sortable(item["first_at"]["S"]),
            last_requested_at=from_sortable(item["last_at"]["S"]),
            last_user_id=item["last_user_id"]["S"],
        )

    def _move_bounds(self, image: ImageTally) -> None:
        last_at, last_user = sortable(image.last_at), image.last_user_id
        # (time, user) in one string, so a tie on time picks the same user on every backend
        last_key = f"{last_at}#{last_user}"
        self._update_if(
            image.image_id,
            "SET first_at = :first",
            "attribute_not_exists(first_at) OR first_at > :first",
            {":first": s(sortable(image.first_at))},
        )
        self._update_if(
            image.image_id,
            "SET last_key = :key, last_at = :at, last_user_id = :user",
            "attribute_not_exists(last_key) OR last_key < :key",
            {":key": s(last_key), ":at": s(last_at), ":user": s(last_user)},
        )

    def _update_if(
        self, image_id: str, update: str, condition: str, values: dict[str, Any]
    ) -> None:
        try:
            self._db.update_item(
                TableName=self._tables.stats,
                Key={"image_id": s(image_id)},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, f"update the stats of image {image_id}") from exc

    def _commit(self, records: list[RequestRecord]) -> int:
        known = self._known_pairs({(r.image_id, r.user_id) for r in records})
        for attempt in range(ATTEMPTS):
            actions, owners = self._actions(records, known)
            try:
                self._db.transact_write_items(
                    TransactItems=actions, ClientRequestToken=str(uuid.uuid4())
                )
                return len(records)
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise translate(exc, "count image requests") from exc
                reasons = [
                    r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])
                ]
            seen = {owners[i] for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
            records = [r for r in records if r.key not in seen]
            if not records:
                return 0
            known |= {p for p in seen if isinstance(p, tuple)}
            if not seen:  # a conflict with a concurrent writer: back off and try again
                time.sleep(min(0.02 * 2**attempt, 1.0) * random.uniform(0.5, 1.5))
        raise BackendError("count image requests: too many concurrent writers, try again")

    def _actions(
        self, records: list[RequestRecord], known: set[Pair]
    ) -> tuple[list[TransactWriteItemTypeDef], list[str | Pair | None]]:
        """The transaction for records, and for each action the record key or pair it owns."""
        expires = n(int(time.time()) + self._seen_ttl)
        actions: list[TransactWriteItemTypeDef] = []
        owners: list[str | Pair | None] = []
        for record in records:
            item = {"pk": s(record.key), TTL_ATTRIBUTE: expires}
            actions.append(_put_new(self._tables.seen, item, "pk"))
            owners.append(record.key)
        for image in tally(records):
            new_pairs = [
                (image.image_id, u) for u in image.users if (image.image_id, u) not in known
            ]
            for image_id, user_id in new_pairs:
                item = {"image_id": s(image_id), "user_id": s(user_id)}
                actions.append(_put_new(self._tables.users, item, "image_id"))
                owners.append((image_id, user_id))
            actions.append(_add(self._tables.stats, image.image_id, image.count, len(new_pairs)))
            owners.append(None)
        return actions, owners

    def _known_pairs(self, pairs: set[Pair]) -> set[Pair]:
        """The (image, user) pairs among pairs that were counted before."""
        keys = [{"image_id": s(i), "user_id": s(u)} for i, u in pairs]
        known: set[Pair] = set()
        while keys:
            batch, keys = keys[:100], keys[100:]
            request: Mapping[str, KeysAndAttributesUnionTypeDef] = {
                self._tables.users: {"Keys": batch, "ConsistentRead": True}
            }
            while request:
                with aws_errors("read the users of images"):
                    response = self._db.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._tables.users, []):
                    known.add((item["image_id"]["S"], item["user_id"]["S"]))
                request = response.get("UnprocessedKeys") or {}
        return known


def _put_new(table: str, item: dict[str, Any], key: str) -> TransactWriteItemTypeDef:
    condition = f"attribute_not_exists({key})"
    return {"Put": {"TableName": table, "Item": item, "ConditionExpression": condition}}


def _add(table: str, image_id: str, requests: int, users: int) -> TransactWriteItemTypeDef:
    return {
        "Update": {
            "TableName": table,
            "Key": {"image_id": s(image_id)},
            "UpdateExpression": "ADD request_count :requests, unique_users :users",
            "ExpressionAttributeValues": {":requests": n(requests), ":users": n(users)},
        }
    }
