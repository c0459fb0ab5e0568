"""The catalog's DynamoDB tables: their definitions and item formats."""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeAlias

from imagelake.domain.errors import InvalidInput
from imagelake.domain.images import ApiKey, DashboardSession, Image, ImageStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        AttributeValueTypeDef,
        CreateTableInputTypeDef,
        GlobalSecondaryIndexTypeDef,
        KeySchemaElementTypeDef,
        ProjectionTypeDef,
    )

# DynamoDB's typed attribute values: {"name": {"S": "..."}}
Item: TypeAlias = "dict[str, AttributeValueTypeDef]"

ALL = "all"  # the one partition of the by_created index: newest-first over every image
BY_CREATED = "by_created"
BY_STATUS = "by_status"
BY_OWNER = "by_owner"  # newest-first over one owner's images
BY_KEY = "by_key"  # the sessions opened with one API key
SHA256_LOCK = "sha256#"  # images-table items that own a sha256: see lock_pk()
KEY_BY_HASH = "hash#"
KEY_BY_ID = "id#"
TTL_ATTRIBUTE = "expires_at"  # epoch seconds: DynamoDB deletes the item some time after


@dataclass(frozen=True)
class Tables:
    images: str
    keys: str
    stats: str
    seen: str
    users: str
    sessions: str

    @classmethod
    def for_prefix(cls, prefix: str) -> Tables:
        return cls(
            f"{prefix}-images",
            f"{prefix}-keys",
            f"{prefix}-stats",
            f"{prefix}-seen",
            f"{prefix}-stats-users",
            f"{prefix}-sessions",
        )

    @property
    def expiring(self) -> tuple[str, ...]:
        """The tables whose items expire on TTL_ATTRIBUTE."""
        return self.seen, self.sessions


def _strings(*names: str) -> list[AttributeDefinitionTypeDef]:
    return [{"AttributeName": name, "AttributeType": "S"} for name in names]


def _key(hash_key: str, range_key: str | None = None) -> list[KeySchemaElementTypeDef]:
    schema: list[KeySchemaElementTypeDef] = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _index(
    name: str, hash_key: str, range_key: str | None = None, keys_only: bool = False
) -> GlobalSecondaryIndexTypeDef:
    projection: ProjectionTypeDef = {"ProjectionType": "KEYS_ONLY" if keys_only else "ALL"}
    return {"IndexName": name, "KeySchema": _key(hash_key, range_key), "Projection": projection}


def table_specs(tables: Tables) -> list[CreateTableInputTypeDef]:
    """create_table arguments for every table of the catalog."""
    return [
        {
            "TableName": tables.images,
            "KeySchema": _key("pk"),
            "AttributeDefinitions": _strings("pk", "gsi", "created_key", "status", "owner"),
            "GlobalSecondaryIndexes": [
                _index(BY_CREATED, "gsi", "created_key"),
                _index(BY_STATUS, "status", "created_key"),
                _index(BY_OWNER, "owner", "created_key"),  # added by provision() if missing
            ],
        },
        {"TableName": tables.keys, "KeySchema": _key("pk"), "AttributeDefinitions": _strings("pk")},
        {
            "TableName": tables.stats,
            "KeySchema": _key("image_id"),
            "AttributeDefinitions": _strings("image_id"),
        },
        {"TableName": tables.seen, "KeySchema": _key("pk"), "AttributeDefinitions": _strings("pk")},
        {
            "TableName": tables.users,
            "KeySchema": _key("image_id", "user_id"),
            "AttributeDefinitions": _strings("image_id", "user_id"),
        },
        {
            "TableName": tables.sessions,
            "KeySchema": _key("pk"),
            "AttributeDefinitions": _strings("pk", "key_hash"),
            "GlobalSecondaryIndexes": [_index(BY_KEY, "key_hash", keys_only=True)],
        },
    ]


def utc(at: datetime) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)


def sortable(at: datetime) -> str:
    """A fixed-width UTC timestamp: string order is time order (isoformat drops zero µs)."""
    return f"{utc(at):%Y-%m-%dT%H:%M:%S.%f}Z"


def from_sortable(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def lock_pk(owner: str, sha256: str) -> str:
    """The item that gives one owner's content to one image (its `owner_id`).

    Releases from before owners wrote `sha256#<hash>`, one content for everyone: see
    DynamoDBCatalog for how those are still read.
    """
    return f"{SHA256_LOCK}{sha256}#{owner}"


def image_item(image: Image) -> Item:
    item: Item = {
        "pk": s(image.image_id),
        "image_id": s(image.image_id),
        "sha256": s(image.sha256),
        "content_type": s(image.content_type),
        "width": n(image.width),
        "height": n(image.height),
        "bytes": n(image.bytes),
        "created_at": s(utc(image.created_at).isoformat()),
        "status": s(str(image.status)),
        "thumbnails": {"M": {str(size): s(key) for size, key in image.thumbnails.items()}},
        "gsi": s(ALL),
        "created_key": s(f"{sortable(image.created_at)}#{image.image_id}"),
    }
    if image.owner:  # an index key may not be empty: an image of nobody is in no by_owner
        item["owner"] = s(image.owner)
    if image.failure_reason is not None:
        item["failure_reason"] = s(image.failure_reason)
    return item


def to_image(item: Item) -> Image:
    return Image(
        image_id=item["image_id"]["S"],
        sha256=item["sha256"]["S"],
        content_type=item["content_type"]["S"],
        width=int(item["width"]["N"]),
        height=int(item["height"]["N"]),
        bytes=int(item["bytes"]["N"]),
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        owner=item["owner"]["S"] if "owner" in item else "",
        status=ImageStatus(item["status"]["S"]),
        failure_reason=item["failure_reason"]["S"] if "failure_reason" in item else None,
        thumbnails={int(size): key["S"] for size, key in item["thumbnails"]["M"].items()},
    )


def key_item(key: ApiKey) -> Item:
    item: Item = {
        "pk": s(KEY_BY_HASH + key.key_hash),
        "key_id": s(key.key_id),
        "key_hash": s(key.key_hash),
        "user_id": s(key.user_id),
        "created_at": s(utc(key.created_at).isoformat()),
        "revoked": {"BOOL": key.revoked},
        "role": s(key.role),
    }
    if key.email is not None:
        item["email"] = s(key.email)
    return item


def to_key(item: Item) -> ApiKey:
    return ApiKey(
        key_id=item["key_id"]["S"],
        key_hash=item["key_hash"]["S"],
        user_id=item["user_id"]["S"],
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        email=item["email"]["S"] if "email" in item else None,
        revoked=item["revoked"]["BOOL"],
        role=item["role"]["S"] if "role" in item else _role_before_roles(item["user_id"]["S"]),
    )


def _role_before_roles(user_id: str) -> str:
    """A key made before roles: the first-start key (user `admin`) stays an admin (as in
    the SQLite catalog's migration)."""
    return "admin" if user_id == "admin" else "user"


def session_item(session: DashboardSession) -> Item:
    ends = utc(session.expires_at)
    return {
        "pk": s(session.session_hash),
        "key_hash": s(session.key_hash),
        "created_at": s(utc(session.created_at).isoformat()),
        "ends_at": s(ends.isoformat()),
        TTL_ATTRIBUTE: n(math.ceil(ends.timestamp())),  # whole seconds, for the sweeper only
    }


def to_session(item: Item) -> DashboardSession:
    return DashboardSession(
        session_hash=item["pk"]["S"],
        key_hash=item["key_hash"]["S"],
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        expires_at=datetime.fromisoformat(item["ends_at"]["S"]),
    )


def listing(owner: str | None) -> tuple[str, str, str]:
    """(index, its partition attribute, the partition) that lists owner's images (None:
    everyone's) newest first. Images of the empty owner are in no by_owner partition."""
    return (BY_OWNER, "owner", owner) if owner else (BY_CREATED, "gsi", ALL)


def encode_cursor(item: Item, owner: str | None = None) -> str:
    """The next page starts after item: its key in listing(owner)'s index, opaque."""
    _, partition, _ = listing(owner)
    fields = {name: item[name]["S"] for name in ("pk", partition, "created_key")}
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()


def decode_cursor(cursor: str, owner: str | None = None) -> Item:
    """The ExclusiveStartKey of a cursor for listing(owner); InvalidInput for any other."""
    _, partition, value = listing(owner)
    try:
        fields = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInput("invalid cursor") from None
    valid = (
        isinstance(fields, dict)
        and sorted(fields) == sorted(("pk", partition, "created_key"))
        and all(isinstance(v, str) and v for v in fields.values())
        and fields[partition] == value
    )
    if not valid:
        raise InvalidInput("invalid cursor")
    return {name: s(value) for name, value in fields.items()}
