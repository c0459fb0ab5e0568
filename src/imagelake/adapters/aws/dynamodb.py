"""Catalog on DynamoDB: images, API keys and request statistics in `<prefix>-*` tables.

Each sha256 is owned by a lock item (`sha256#<hash>`) in the images table, written in
the same transaction as its image: two concurrent uploads of the same bytes end with one
image, and the lookup by content is a strongly consistent read, unlike a GSI query.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from imagelake.adapters.aws import dynamodb_codec as schema
from imagelake.adapters.aws.clients import aws_errors, error_code, translate
from imagelake.adapters.aws.dynamodb_codec import SHA256_LOCK, Item, Tables, s
from imagelake.adapters.aws.dynamodb_stats import DynamoDBStats
from imagelake.domain.errors import BackendError, Conflict, InvalidInput, NotFound
from imagelake.domain.events import ImageStats, RequestRecord
from imagelake.domain.images import ApiKey, Image, ImageStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        DeleteTypeDef,
        PutTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
    )

ATTEMPTS = 5  # rereads after losing a race with a concurrent writer
FAILED = "ConditionalCheckFailed"


class DynamoDBCatalog:
    def __init__(self, client: DynamoDBClient, table_prefix: str) -> None:
        self._db = client
        self.tables = Tables.for_prefix(table_prefix)
        self._stats = DynamoDBStats(client, self.tables)

    def provision(self) -> list[str]:
        """Create the tables that are missing (idempotent); say what was done."""
        return schema.provision(self._db, self.tables)

    def add_image(self, image: Image) -> Image:
        for _ in range(ATTEMPTS):
            reasons = self._transact(
                f"add image {image.image_id}",
                _put_new(self.tables.images, _lock_item(image)),
                _put_new(self.tables.images, schema.image_item(image)),
            )
            if not reasons:
                return image
            if reasons[0] == FAILED:  # the content is known: the first upload wins
                existing = self.find_by_sha256(image.sha256)
                if existing is not None:
                    return existing
            elif reasons[1:2] == [FAILED]:
                raise Conflict(f"image {image.image_id} already exists")
        raise BackendError(f"add image {image.image_id}: too many concurrent changes")

    def get_image(self, image_id: str) -> Image:
        item = self._get(self.tables.images, image_id)
        if item is None or "sha256" not in item:
            raise NotFound(f"no image {image_id}")
        return schema.to_image(item)

    def find_by_sha256(self, sha256: str) -> Image | None:
        lock = self._get(self.tables.images, SHA256_LOCK + sha256)
        if lock is None:
            return None
        try:
            return self.get_image(lock["owner_id"]["S"])
        except NotFound:
            return None  # deleted since we read the lock

    def save_image(self, image: Image) -> None:
        item = schema.image_item(image)
        for _ in range(ATTEMPTS):
            stored = self.get_image(image.image_id)
            same = {":sha": s(stored.sha256)}
            unchanged = "attribute_exists(pk) AND sha256 = :sha"
            actions = [_put(self.tables.images, item, unchanged, same)]
            if stored.sha256 != image.sha256:  # the content changed: move its lock too
                actions.append(_put_new(self.tables.images, _lock_item(image)))
                actions.append(_delete_lock(self.tables.images, stored))
            reasons = self._transact(f"save image {image.image_id}", *actions)
            if not reasons:
                return
            if len(reasons) > 1 and reasons[1] == FAILED:
                raise Conflict(f"another image has sha256 {image.sha256}")
        raise BackendError(f"save image {image.image_id}: too many concurrent changes")

    def delete_image(self, image_id: str) -> None:
        for _ in range(ATTEMPTS):
            stored = self.get_image(image_id)
            delete: DeleteTypeDef = {
                "TableName": self.tables.images,
                "Key": {"pk": s(image_id)},
                "ConditionExpression": "sha256 = :sha",
                "ExpressionAttributeValues": {":sha": s(stored.sha256)},
            }
            lock = _delete_lock(self.tables.images, stored)
            if not self._transact(f"delete image {image_id}", {"Delete": delete}, lock):
                return
        raise BackendError(f"delete image {image_id}: too many concurrent changes")

    def list_images(self, limit: int, cursor: str | None) -> tuple[list[Image], str | None]:
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        start = schema.decode_cursor(cursor) if cursor else None
        values = {":all": s(schema.ALL)}
        items = self._query(schema.BY_CREATED, "gsi = :all", values, limit + 1, True, start)
        page = items[:limit]
        more = len(items) > limit
        return [schema.to_image(i) for i in page], schema.encode_cursor(page[-1]) if more else None

    def images_with_status(self, status: ImageStatus, limit: int) -> list[Image]:
        if limit < 1:
            return []
        values = {":status": s(str(status))}
        items = self._query(schema.BY_STATUS, "#status = :status", values, limit, False)
        return [schema.to_image(i) for i in items]

    def add_key(self, key: ApiKey) -> None:
        pointer = {"pk": s(schema.KEY_BY_ID + key.key_id), "key_hash": s(key.key_hash)}
        reasons = self._transact(
            f"add API key {key.key_id}",
            _put_new(self.tables.keys, pointer),
            _put_new(self.tables.keys, schema.key_item(key)),
        )
        if reasons:
            raise Conflict(f"API key {key.key_id} already exists")

    def find_key(self, key_hash: str) -> ApiKey | None:
        item = self._get(self.tables.keys, schema.KEY_BY_HASH + key_hash)
        return None if item is None else schema.to_key(item)

    def list_keys(self) -> list[ApiKey]:
        keys: list[ApiKey] = []
        paginator = self._db.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.tables.keys,
            ConsistentRead=True,
            FilterExpression="begins_with(pk, :hash)",
            ExpressionAttributeValues={":hash": s(schema.KEY_BY_HASH)},
        )
        with aws_errors("list API keys"):
            for page in pages:
                keys.extend(schema.to_key(item) for item in page.get("Items", []))
        return sorted(keys, key=lambda k: (schema.utc(k.created_at), k.key_id))

    def revoke_key(self, key_id: str) -> None:
        pointer = self._get(self.tables.keys, schema.KEY_BY_ID + key_id)
        if pointer is None:
            raise NotFound(f"no API key {key_id}")
        with aws_errors(f"revoke API key {key_id}"):
            self._db.update_item(
                TableName=self.tables.keys,
                Key={"pk": s(schema.KEY_BY_HASH + pointer["key_hash"]["S"])},
                UpdateExpression="SET revoked = :yes",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )

    def record_requests(self, records: Sequence[RequestRecord]) -> int:
        return self._stats.record_requests(records)

    def get_stats(self, image_id: str) -> ImageStats:
        return self._stats.get_stats(image_id)

    def close(self) -> None:
        pass

    def _get(self, table: str, pk: str) -> Item | None:
        with aws_errors(f"read {pk} from {table}"):
            response = self._db.get_item(TableName=table, Key={"pk": s(pk)}, ConsistentRead=True)
        item: Item | None = response.get("Item")
        return item

    def _query(
        self,
        index: str,
        expression: str,
        values: Item,
        limit: int,
        newest_first: bool,
        start: Item | None = None,
    ) -> list[Item]:
        """Up to limit items of index matching expression, from after start."""
        arguments: QueryInputTypeDef = {
            "TableName": self.tables.images,
            "IndexName": index,
            "KeyConditionExpression": expression,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        if "#status" in expression:
            arguments["ExpressionAttributeNames"] = {"#status": "status"}
        items: list[Item] = []
        while len(items) < limit:
            if start:
                arguments["ExclusiveStartKey"] = start
            arguments["Limit"] = limit - len(items)
            with aws_errors(f"query {self.tables.images}"):
                response = self._db.query(**arguments)
            items.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        return items

    def _transact(self, what: str, *actions: TransactWriteItemTypeDef) -> list[str]:
        """Run the transaction; [] when it committed, else why each action was cancelled."""
        try:
            self._db.transact_write_items(
                TransactItems=list(actions), ClientRequestToken=str(uuid.uuid4())
            )
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise translate(exc, what) from exc
            reasons = exc.response.get("CancellationReasons", [])
            return [r.get("Code", "None") for r in reasons] or ["Unknown"]
        except BotoCoreError as exc:
            raise translate(exc, what) from exc
        return []


def _lock_item(image: Image) -> Item:
    return {"pk": s(SHA256_LOCK + image.sha256), "owner_id": s(image.image_id)}


def _put(
    table: str, item: Item, condition: str, values: Item | None = None
) -> TransactWriteItemTypeDef:
    put: PutTypeDef = {"TableName": table, "Item": item, "ConditionExpression": condition}
    if values:
        put["ExpressionAttributeValues"] = values
    return {"Put": put}


def _put_new(table: str, item: Item) -> TransactWriteItemTypeDef:
    return _put(table, item, "attribute_not_exists(pk)")


def _delete_lock(table: str, image: Image) -> TransactWriteItemTypeDef:
    return {
        "Delete": {
            "TableName": table,
            "Key": {"pk": s(SHA256_LOCK + image.sha256)},
            "ConditionExpression": "owner_id = :owner",
            "ExpressionAttributeValues": {":owner": s(image.image_id)},
        }
    }
