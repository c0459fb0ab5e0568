"""The catalog's DynamoDB tables: their definitions, provisioning and item formats."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeAlias

from botocore.exceptions import ClientError

from imagelake.adapters.aws.clients import aws_errors, error_code
from imagelake.domain.errors import InvalidInput
from imagelake.domain.images import ApiKey, Image, ImageStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        AttributeValueTypeDef,
        CreateTableInputTypeDef,
        GlobalSecondaryIndexTypeDef,
        KeySchemaElementTypeDef,
    )

# DynamoDB's typed attribute values: {"name": {"S": "..."}}
Item: TypeAlias = "dict[str, AttributeValueTypeDef]"

ALL = "all"  # the one partition of the by_created index: newest-first over every image
BY_CREATED = "by_created"
BY_STATUS = "by_status"
SHA256_LOCK = "sha256#"  # images-table items that own a sha256: one image per content
KEY_BY_HASH = "hash#"
KEY_BY_ID = "id#"
TTL_ATTRIBUTE = "expires_at"


@dataclass(frozen=True)
class Tables:
    images: str
    keys: str
    stats: str
    seen: str
    users: str

    @classmethod
    def for_prefix(cls, prefix: str) -> Tables:
        return cls(
            f"{prefix}-images",
            f"{prefix}-keys",
            f"{prefix}-stats",
            f"{prefix}-seen",
            f"{prefix}-stats-users",
        )


def _strings(*names: str) -> list[AttributeDefinitionTypeDef]:
    return [{"AttributeName": name, "AttributeType": "S"} for name in names]


def _key(hash_key: str, range_key: str | None = None) -> list[KeySchemaElementTypeDef]:
    schema: list[KeySchemaElementTypeDef] = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _index(name: str, hash_key: str, range_key: str) -> GlobalSecondaryIndexTypeDef:
    return {
        "IndexName": name,
        "KeySchema": _key(hash_key, range_key),
        "Projection": {"ProjectionType": "ALL"},
    }


def table_specs(tables: Tables) -> list[CreateTableInputTypeDef]:
    """create_table arguments for every table of the catalog."""
    return [
        {
            "TableName": tables.images,
            "KeySchema": _key("pk"),
            "AttributeDefinitions": _strings("pk", "gsi", "created_key", "status"),
            "GlobalSecondaryIndexes": [
                _index(BY_CREATED, "gsi", "created_key"),
                _index(BY_STATUS, "status", "created_key"),
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
    ]


def provision(client: DynamoDBClient, tables: Tables) -> list[str]:
    """Create the missing tables and the TTL on the idempotency table; say what was done."""
    done = []
    for spec in table_specs(tables):
        name = spec["TableName"]
        with aws_errors(f"create dynamodb table {name}"):
            try:
                request: CreateTableInputTypeDef = {**spec, "BillingMode": "PAY_PER_REQUEST"}
                client.create_table(**request)
                done.append(f"dynamodb table {name}: created")
            except ClientError as exc:
                if error_code(exc) != "ResourceInUseException":
                    raise
                done.append(f"dynamodb table {name}: exists")
            waiter = client.get_waiter("table_exists")
            waiter.wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    with aws_errors(f"enable the TTL on {tables.seen}"):
        ttl = client.describe_time_to_live(TableName=tables.seen)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(
                TableName=tables.seen,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
            done.append(f"dynamodb table {tables.seen}: TTL on {TTL_ATTRIBUTE} enabled")
    return done


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
        "owner": s(image.owner),
        "status": s(str(image.status)),
        "thumbnails": {"M": {str(size): s(key) for size, key in image.thumbnails.items()}},
        "gsi": s(ALL),
        "created_key": s(f"{sortable(image.created_at)}#{image.image_id}"),
    }
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
        owner=item["owner"]["S"],
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
    )


_CURSOR_FIELDS = ("pk", "gsi", "created_key")


def encode_cursor(item: Item) -> str:
    """The next page starts after item: its by_created key, opaque to the caller."""
    fields = {name: item[name]["S"] for name in _CURSOR_FIELDS}
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()


def decode_cursor(cursor: str) -> Item:
    try:
        fields = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInput("invalid cursor") from None
    valid = (
        isinstance(fields, dict)
        and sorted(fields) == sorted(_CURSOR_FIELDS)
        and all(isinstance(v, str) and v for v in fields.values())
        and fields["gsi"] == ALL
    )
    if not valid:
        raise InvalidInput("invalid cursor")
    return {name: s(value) for name, value in fields.items()}
