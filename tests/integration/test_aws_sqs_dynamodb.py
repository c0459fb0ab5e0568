"""SQS, DynamoDB and provisioning specifics over a moto server; the contracts cover the rest."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from imagelake.adapters.aws import dynamodb_codec as schema
from imagelake.adapters.aws.clients import client
from imagelake.adapters.aws.dynamodb import DynamoDBCatalog
from imagelake.adapters.aws.dynamodb_codec import BY_OWNER, Tables, table_specs
from imagelake.adapters.aws.sqs import SqsQueue
from imagelake.adapters.aws.sqs_codec import REDRIVE_REASON
from imagelake.bootstrap import provision
from imagelake.config import Settings
from imagelake.domain.errors import BackendError, Conflict
from imagelake.domain.events import RequestRecord
from imagelake.domain.images import ApiKey, DashboardSession, Image, new_image_id

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import CreateTableInputTypeDef

HIDDEN = 600.0
PATIENCE = 20.0
T0 = datetime(2021, 7, 11, 9, 17, 13, tzinfo=UTC)


def unique(kind: str) -> str:
    return f"test-{kind}-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def queue(aws_endpoint: str) -> SqsQueue:
    queue = SqsQueue(client("sqs"), unique("queue"))
    queue.provision(max_receives=1)
    return queue


@pytest.fixture
def catalog(aws_endpoint: str) -> DynamoDBCatalog:
    catalog = DynamoDBCatalog(client("dynamodb"), unique("catalog"))
    catalog.provision()
    return catalog


def test_sqs_redrive_policy_dead_letters_are_listed_and_replayed(queue: SqsQueue) -> None:
    queue.send([b"\x00poison"])
    assert queue.receive(1, visibility_timeout=1)[0].receive_count == 1

    # The next receive finds it past maxReceiveCount: SQS moves it to the DLQ itself.
    assert queue.receive(1, HIDDEN, wait=3) == []

    [dead] = queue.dead_letters()
    assert (dead.body, dead.reason, dead.attempts) == (b"\x00poison", REDRIVE_REASON, 1)
    assert queue.replay(dead.dead_letter_id) == 1
    assert queue.receive(1, HIDDEN)[0].body == b"\x00poison"


def test_sqs_batches_split_by_size(queue: SqsQueue) -> None:
    bodies = [bytes([65 + n]) * 100_000 for n in range(12)]

    queue.send(bodies)

    received = queue.receive(20, HIDDEN)
    assert sorted(m.body for m in received) == bodies
    queue.ack(received)
    assert queue.depth() == 0


def test_sqs_provision_is_idempotent(queue: SqsQueue) -> None:
    again = queue.provision(max_receives=3)

    assert all("exists" in line for line in again)
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=client("sqs").get_queue_url(QueueName=queue.name)["QueueUrl"],
        AttributeNames=["RedrivePolicy"],
    )
    assert int(json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"]) == 3


def test_sqs_queue_that_was_never_provisioned(aws_endpoint: str) -> None:
    queue = SqsQueue(client("sqs"), unique("missing"))

    with pytest.raises(BackendError, match="imagelake aws provision"):
        queue.send([b"x"])


# moto does not isolate concurrent TransactWriteItems (two can both pass the same
# attribute_not_exists, and concurrent ADDs lose updates), so these replay interleaved
# redeliveries one call at a time; DynamoDB itself serialises transactions.


def test_the_same_bytes_can_come_back_after_a_delete(catalog: DynamoDBCatalog) -> None:
    first = catalog.add_image(Image(new_image_id(), "f" * 64, "image/png", 1, 1, 1, T0))
    catalog.delete_image(first.image_id)

    second = catalog.add_image(Image(new_image_id(), "f" * 64, "image/png", 1, 1, 1, T0))

    assert second.image_id != first.image_id
    assert catalog.find_by_sha256("", "f" * 64) == second


def test_a_changed_sha256_frees_the_old_one(catalog: DynamoDBCatalog) -> None:
    image = catalog.add_image(Image(new_image_id(), "a" * 64, "image/png", 1, 1, 1, T0))
    catalog.save_image(dataclasses.replace(image, sha256="b" * 64))

    again = catalog.add_image(Image(new_image_id(), "a" * 64, "image/png", 1, 1, 1, T0))

    assert again.image_id != image.image_id
    assert catalog.find_by_sha256("", "b" * 64) == dataclasses.replace(image, sha256="b" * 64)


def test_overlapping_redeliveries_count_each_event_once(
    catalog: DynamoDBCatalog, aws_endpoint: str
) -> None:
    other_worker = DynamoDBCatalog(
        client("dynamodb"), catalog.tables.images.removesuffix("-images")
    )
    image_id = new_image_id()
    records = [
        RequestRecord(f"e{n}", image_id, f"u{n % 7}", T0 + timedelta(seconds=n)) for n in range(60)
    ]
    counted = []

    # Two workers, each seeing every record in overlapping batches, newest batches first.
    for start in reversed(range(0, 60, 20)):
        counted.append(catalog.record_requests(records[start : start + 30]))
        counted.append(other_worker.record_requests(records[max(start - 10, 0) : start + 20]))

    assert sum(counted) == 60
    stats = other_worker.get_stats(image_id)
    assert (stats.request_count, stats.unique_users) == (60, 7)
    assert (stats.last_user_id, stats.last_requested_at) == ("u3", T0 + timedelta(seconds=59))
    assert stats.first_requested_at == T0


def test_catalog_provision_is_idempotent_and_sets_the_ttls(catalog: DynamoDBCatalog) -> None:
    assert all(line.endswith(": exists") for line in catalog.provision())

    for table in (catalog.tables.seen, catalog.tables.sessions):
        ttl = client("dynamodb").describe_time_to_live(TableName=table)
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_sessions_expire_on_the_ttl_after_they_end(catalog: DynamoDBCatalog) -> None:
    ends = T0 + timedelta(days=7, microseconds=1)
    catalog.add_session(DashboardSession("s-1", "hash-1", T0, ends))

    item = client("dynamodb").get_item(TableName=catalog.tables.sessions, Key={"pk": {"S": "s-1"}})[
        "Item"
    ]
    assert int(item["expires_at"]["N"]) == int(ends.timestamp()) + 1  # never before the end
    assert catalog.find_session("s-1") == DashboardSession("s-1", "hash-1", T0, ends)
    with pytest.raises(Conflict):
        catalog.add_session(DashboardSession("s-1", "hash-2", T0, ends))


def test_images_of_nobody_are_stored_and_listed(catalog: DynamoDBCatalog) -> None:
    nobodys = catalog.add_image(Image(new_image_id(), "c" * 64, "image/png", 1, 1, 1, T0))
    alices = catalog.add_image(
        Image(new_image_id(), "c" * 64, "image/png", 1, 1, 1, T0, owner="alice")
    )

    assert catalog.list_images(10, None, owner="") == ([nobodys], None)
    assert catalog.list_images(10, None, owner="alice") == ([alices], None)
    assert catalog.find_by_sha256("", "c" * 64) == nobodys


def legacy_tables(prefix: str) -> Tables:
    """The images and keys tables as a release from before owners made them, with items."""
    tables = Tables.for_prefix(prefix)
    dynamodb = client("dynamodb")
    for spec in table_specs(tables)[:2]:
        indexes = [i for i in spec.get("GlobalSecondaryIndexes", []) if i["IndexName"] != BY_OWNER]
        old: CreateTableInputTypeDef = {
            "TableName": spec["TableName"],
            "KeySchema": spec["KeySchema"],
            "AttributeDefinitions": [
                a for a in spec["AttributeDefinitions"] if a["AttributeName"] != "owner"
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if indexes:
            old["GlobalSecondaryIndexes"] = indexes
        dynamodb.create_table(**old)
    return tables


def put_legacy_items(tables: Tables, image: Image) -> None:
    dynamodb = client("dynamodb")
    item = {**schema.image_item(image), "owner": {"S": image.owner}}
    dynamodb.put_item(TableName=tables.images, Item=item)
    lock = {"pk": {"S": f"sha256#{image.sha256}"}, "owner_id": {"S": image.image_id}}
    dynamodb.put_item(TableName=tables.images, Item=lock)
    for key_id, user_id in (("k1", "admin"), ("k2", "alice")):
        key = schema.key_item(ApiKey(key_id, f"h-{key_id}", user_id, T0))
        del key["role"]
        dynamodb.put_item(TableName=tables.keys, Item=key)
        pointer = {"pk": {"S": f"id#{key_id}"}, "key_hash": {"S": f"h-{key_id}"}}
        dynamodb.put_item(TableName=tables.keys, Item=pointer)


def test_a_catalog_from_before_owners_is_brought_up_by_provision(aws_endpoint: str) -> None:
    prefix = unique("legacy")
    tables = legacy_tables(prefix)
    old = Image(new_image_id(), "d" * 64, "image/png", 1, 1, 1, T0, owner="alice")
    put_legacy_items(tables, old)

    done = DynamoDBCatalog(client("dynamodb"), prefix).provision()

    assert f"dynamodb table {tables.images}: index by_owner added" in done
    assert f"dynamodb table {tables.sessions}: created" in done
    catalog = DynamoDBCatalog(client("dynamodb"), prefix)
    assert catalog.list_images(10, None, owner="alice") == ([old], None)
    assert [(k.user_id, k.role) for k in catalog.list_keys()] == [
        ("admin", "admin"),
        ("alice", "user"),
    ]
    assert catalog.revoke_key("k2").role == "user"

    # The lock from before owners still dedupes its owner's content, and only theirs.
    assert catalog.find_by_sha256("alice", old.sha256) == old
    assert catalog.find_by_sha256("bob", old.sha256) is None
    bobs = Image(new_image_id(), old.sha256, "image/png", 1, 1, 1, T0, owner="bob")
    assert catalog.add_image(bobs) == bobs
    catalog.delete_image(old.image_id)  # and goes with its image
    assert catalog.find_by_sha256("alice", old.sha256) is None
    assert catalog.find_by_sha256("bob", old.sha256) == bobs
    lock = client("dynamodb").get_item(
        TableName=tables.images, Key={"pk": {"S": f"sha256#{old.sha256}"}}
    )
    assert "Item" not in lock


def test_a_changed_sha256_moves_a_lock_from_before_owners(aws_endpoint: str) -> None:
    prefix = unique("legacy")
    tables = legacy_tables(prefix)
    old = Image(new_image_id(), "e" * 64, "image/png", 1, 1, 1, T0, owner="alice")
    put_legacy_items(tables, old)
    catalog = DynamoDBCatalog(client("dynamodb"), prefix)
    catalog.provision()

    changed = dataclasses.replace(old, sha256="f" * 64)
    catalog.save_image(changed)

    assert catalog.find_by_sha256("alice", "e" * 64) is None
    assert catalog.find_by_sha256("alice", "f" * 64) == changed


def test_catalog_without_tables_is_a_backend_error(aws_endpoint: str) -> None:
    with pytest.raises(BackendError, match="ResourceNotFound"):
        DynamoDBCatalog(client("dynamodb"), unique("missing")).get_image(new_image_id())


def settings(tmp_path: Path, **changes: Any) -> Settings:
    name = unique("app")
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "blobs": f"s3://{name}-originals/lake",
        "thumbnails": f"s3://{name}-thumbnails",
        "catalog": f"dynamodb://{name}",
        "queue": f"sqs://{name}-events",
        "jobs_queue": f"sqs://{name}-jobs",
        "notify": f"sns://arn:aws:sns:us-east-1:123456789012:{name}",
        "public_url": "https://images.example.com",
    }
    return Settings(**(values | changes))


def test_provision_creates_everything_configured_once(aws_endpoint: str, tmp_path: Path) -> None:
    config = settings(tmp_path)

    first = provision(config)
    second = provision(config)

    assert sum("created" in line for line in first) == 2 + 6 + 4  # buckets, tables, queues
    assert not any("created" in line for line in second)
    assert any("CORS allows browser uploads from https://images.example.com" in x for x in first)
    assert any(config.notify.removeprefix("sns://") in line for line in first)
    cors = client("s3").get_bucket_cors(Bucket=config.blobs_url.split("/")[2])
    assert cors["CORSRules"][0]["AllowedMethods"] == ["GET", "POST"]
    SqsQueue(client("sqs"), config.jobs_queue_url.removeprefix("sqs://")).send([b"ok"])


def test_provision_with_embedded_backends_has_nothing_to_do(tmp_path: Path) -> None:
    assert provision(Settings(data_dir=tmp_path)) == [
        "nothing to do: no s3://, dynamodb://, sqs:// or sns:// backend configured"
    ]
