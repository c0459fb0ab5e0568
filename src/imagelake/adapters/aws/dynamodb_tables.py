"""How the catalog's parts create and talk to their DynamoDB tables.

provision() makes what table_specs() declares: missing tables, the indexes an older
release did not have, the TTLs. The rest are the reads and conditional writes every part
of the catalog shares, with vendor errors translated into ours.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from imagelake.adapters.aws.clients import aws_errors, error_code, translate
from imagelake.adapters.aws.dynamodb_codec import TTL_ATTRIBUTE, Item, Tables, s, table_specs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        CreateGlobalSecondaryIndexActionTypeDef,
        CreateTableInputTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
    )

FAILED = "ConditionalCheckFailed"  # a cancelled transaction's reason for one action


def provision(client: DynamoDBClient, tables: Tables) -> list[str]:
    """Create the missing tables and indexes, and the TTLs; say what was done."""
    done = []
    for spec in table_specs(tables):
        done.append(_create_table(client, spec))
        done.extend(_add_indexes(client, spec))
    for name in tables.expiring:
        with aws_errors(f"enable the TTL on {name}"):
            ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
                )
                done.append(f"dynamodb table {name}: TTL on {TTL_ATTRIBUTE} enabled")
    return done


def _create_table(client: DynamoDBClient, spec: CreateTableInputTypeDef) -> str:
    name = spec["TableName"]
    with aws_errors(f"create dynamodb table {name}"):
        try:
            request: CreateTableInputTypeDef = {**spec, "BillingMode": "PAY_PER_REQUEST"}
            client.create_table(**request)
            line = f"dynamodb table {name}: created"
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise
            line = f"dynamodb table {name}: exists"
        waiter = client.get_waiter("table_exists")
        waiter.wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return line


def _add_indexes(client: DynamoDBClient, spec: CreateTableInputTypeDef) -> list[str]:
    """Add the indexes a table made by an older release lacks; DynamoDB backfills them.

    Not waited for: on a large table the backfill takes a while, and until the index is
    ACTIVE a query on it fails (listing one owner's images, for by_owner).
    """
    name = spec["TableName"]
    done = []
    with aws_errors(f"add the indexes of dynamodb table {name}"):
        table = client.describe_table(TableName=name)["Table"]
        present = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
        for index in spec.get("GlobalSecondaryIndexes", []):
            if index["IndexName"] not in present:
                create: CreateGlobalSecondaryIndexActionTypeDef = {
                    "IndexName": index["IndexName"],
                    "KeySchema": index["KeySchema"],
                    "Projection": index["Projection"],
                }
                client.update_table(
                    TableName=name,
                    AttributeDefinitions=spec["AttributeDefinitions"],
                    GlobalSecondaryIndexUpdates=[{"Create": create}],
                )
                done.append(f"dynamodb table {name}: index {index['IndexName']} added")
    return done


def read_item(client: DynamoDBClient, table: str, pk: str) -> Item | None:
    """The item whose pk is pk, read strongly consistent; None when there is none."""
    with aws_errors(f"read {pk} from {table}"):
        response = client.get_item(TableName=table, Key={"pk": s(pk)}, ConsistentRead=True)
    item: Item | None = response.get("Item")
    return item


def transact(client: DynamoDBClient, what: str, *actions: TransactWriteItemTypeDef) -> list[str]:
    """Run the transaction; [] when it committed, else why each action was cancelled."""
    try:
        client.transact_write_items(
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


@contextmanager
def unless_failed(what: str, failed: Exception) -> Iterator[None]:
    """aws_errors(what), except that a single write's failed condition raises failed."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) == FAILED + "Exception":
            raise failed from None
        raise translate(exc, what) from exc
    except BotoCoreError as exc:
        raise translate(exc, what) from exc


def put(
    table: str, item: Item, condition: str, values: Item | None = None
) -> TransactWriteItemTypeDef:
    action: PutTypeDef = {"TableName": table, "Item": item, "ConditionExpression": condition}
    if values:
        action["ExpressionAttributeValues"] = values
    return {"Put": action}


def put_new(table: str, item: Item) -> TransactWriteItemTypeDef:
    return put(table, item, "attribute_not_exists(pk)")
