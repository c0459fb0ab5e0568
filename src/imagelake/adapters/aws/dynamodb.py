"""Catalog on DynamoDB: images, API keys and request statistics in `<prefix>-*` tables.

Each owner's sha256 is held by a lock item (`sha256#<hash>#<owner>`) in the images table,
written in the same transaction as its image: two concurrent uploads of the same bytes by
one owner end with one image, and the lookup by content is a strongly consistent read,
unlike a GSI query.

Releases from before owners locked a sha256 for everyone (`sha256#<hash>`). Those locks
are still read, never written: find_by_sha256 falls back to one when the owner has no lock
of the new form, and takes its image only if that image is the owner's; deleting the image,
or changing its content, removes the old lock with it. The one gap: two uploads racing on
content their owner uploaded before owners may both be stored (the first lookup finds the
old image, so only a race gets there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagelake.adapters.aws import dynamodb_codec as schema
from imagelake.adapters.aws.clients import aws_errors
from imagelake.adapters.aws.dynamodb_codec import SHA256_LOCK, Item, Tables, lock_pk, s
from imagelake.adapters.aws.dynamodb_keys import DynamoDBKeys
from imagelake.adapters.aws.dynamodb_stats import DynamoDBStats
from imagelake.adapters.aws.dynamodb_tables import (
    FAILED,
    provision,
    put,
    put_new,
    read_item,
    transact,
)
from imagelake.adapters.composed import ComposedCatalog
from imagelake.domain.errors import BackendError, Conflict, InvalidInput, NotFound
from imagelake.domain.images import Image, ImageStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        DeleteTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
    )

ATTEMPTS = 5  # rereads after losing a race with a concurrent writer


class DynamoDBCatalog(ComposedCatalog):
    def __init__(self, client: DynamoDBClient, table_prefix: str) -> None:
        self._db = client
        self.tables = Tables.for_prefix(table_prefix)
        self._keys = DynamoDBKeys(client, self.tables)
        self._stats = DynamoDBStats(client, self.tables)

    def provision(self) -> list[str]:
        """Create the tables and indexes that are missing (idempotent); say what was done."""
        return provision(self._db, self.tables)

    def add_image(self, image: Image) -> Image:
        for _ in range(ATTEMPTS):
            reasons = transact(
                self._db,
                f"add image {image.image_id}",
                put_new(self.tables.images, _lock_item(image)),
                put_new(self.tables.images, schema.image_item(image)),
            )
            if not reasons:
                return image
            if reasons[0] == FAILED:  # the owner has this content: the first upload wins
                existing = self._holder(lock_pk(image.owner, image.sha256))
                if existing is not None:
                    return existing
            elif reasons[1:2] == [FAILED]:
                raise Conflict(f"image {image.image_id} already exists")
        raise BackendError(f"add image {image.image_id}: too many concurrent changes")

    def get_image(self, image_id: str) -> Image:
        item = read_item(self._db, self.tables.images, image_id)
        if item is None or "sha256" not in item:
            raise NotFound(f"no image {image_id}")
        return schema.to_image(item)

    def find_by_sha256(self, owner: str, sha256: str) -> Image | None:
        for pk in (lock_pk(owner, sha256), SHA256_LOCK + sha256):  # then a lock from before
            image = self._holder(pk)
            if image is not None and (image.owner, image.sha256) == (owner, sha256):
                return image
        return None

    def save_image(self, image: Image) -> None:
        item = schema.image_item(image)
        for _ in range(ATTEMPTS):
            stored = self.get_image(image.image_id)
            same = {":sha": s(stored.sha256)}
            unchanged = "attribute_exists(pk) AND sha256 = :sha"
            actions = [put(self.tables.images, item, unchanged, same)]
            if (stored.owner, stored.sha256) != (image.owner, image.sha256):  # move its lock
                actions.append(put_new(self.tables.images, _lock_item(image)))
                actions.extend(self._unlock(stored))
            reasons = transact(self._db, f"save image {image.image_id}", *actions)
            if not reasons:
                return
            if reasons[1:2] == [FAILED]:
                raise Conflict(f"another image of {image.owner!r} has sha256 {image.sha256}")
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
            unlock = self._unlock(stored)
            if not transact(self._db, f"delete image {image_id}", {"Delete": delete}, *unlock):
                return
        raise BackendError(f"delete image {image_id}: too many concurrent changes")

    def list_images(
        self, limit: int, cursor: str | None, owner: str | None = None
    ) -> tuple[list[Image], str | None]:
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        start = schema.decode_cursor(cursor, owner) if cursor else None
        index, partition, value = schema.listing(owner)
        names, values = {"#part": partition}, {":part": s(value)}
        query: QueryInputTypeDef = {
            "TableName": self.tables.images,
            "IndexName": index,
            "KeyConditionExpression": "#part = :part",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if owner == "":  # images of nobody are in no by_owner partition: sift everyone's
            query["FilterExpression"] = "attribute_not_exists(#owner) OR #owner = :nobody"
            names["#owner"], values[":nobody"] = "owner", s("")
        items = self._query(query, limit + 1, start)
        page, more = items[:limit], len(items) > limit
        next_cursor = schema.encode_cursor(page[-1], owner) if more else None
        return [schema.to_image(i) for i in page], next_cursor

    def images_with_status(self, status: ImageStatus, limit: int) -> list[Image]:
        if limit < 1:
            return []
        query: QueryInputTypeDef = {
            "TableName": self.tables.images,
            "IndexName": schema.BY_STATUS,
            "KeyConditionExpression": "#status = :status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":status": s(str(status))},
        }
        return [schema.to_image(i) for i in self._query(query, limit)]

    def close(self) -> None:
        pass

    def _holder(self, lock: str) -> Image | None:
        """The image that holds the lock item lock, if both exist."""
        item = read_item(self._db, self.tables.images, lock)
        if item is None:
            return None
        try:
            return self.get_image(item["owner_id"]["S"])
        except NotFound:
            return None  # deleted since we read the lock

    def _unlock(self, image: Image) -> list[TransactWriteItemTypeDef]:
        """The deletion of the lock image holds, of either form; none if it holds none."""
        for pk in (lock_pk(image.owner, image.sha256), SHA256_LOCK + image.sha256):
            lock = read_item(self._db, self.tables.images, pk)
            if lock is not None and lock["owner_id"]["S"] == image.image_id:
                delete: DeleteTypeDef = {
                    "TableName": self.tables.images,
                    "Key": {"pk": s(pk)},
                    "ConditionExpression": "owner_id = :holder",
                    "ExpressionAttributeValues": {":holder": s(image.image_id)},
                }
                return [{"Delete": delete}]
        return []

    def _query(self, query: QueryInputTypeDef, limit: int, start: Item | None = None) -> list[Item]:
        """Up to limit items that query finds, from after start."""
        items: list[Item] = []
        while len(items) < limit:
            if start:
                query["ExclusiveStartKey"] = start
            query["Limit"] = limit - len(items)
            with aws_errors(f"query {self.tables.images}"):
                response = self._db.query(**query)
            items.extend(response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        return items


def _lock_item(image: Image) -> Item:
    # owner_id names the image that holds the lock (the name older releases gave it)
    return {"pk": s(lock_pk(image.owner, image.sha256)), "owner_id": s(image.image_id)}
