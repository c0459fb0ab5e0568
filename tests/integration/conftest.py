"""The backends of each port, one registry per port; a contract test runs once per entry.

To add a backend of a port: register a factory in that port's dict below (BLOB_STORES,
CATALOGS, QUEUES); the other ports are untouched. A factory takes (tmp_path, request) --
request gives access to other fixtures, such as an emulator -- and returns a fresh, empty
adapter. (Notifiers have their read-back channels in test_notifier_contract.py.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from imagelake.adapters.aws.dynamodb import DynamoDBCatalog
from imagelake.adapters.aws.s3 import S3BlobStore
from imagelake.adapters.aws.sqs import SqsQueue
from imagelake.adapters.embedded.files import LocalBlobStore
from imagelake.adapters.embedded.sqlite_catalog import SqliteCatalog
from imagelake.adapters.embedded.sqlite_queue import SqliteQueue
from imagelake.adapters.memory import MemoryBlobStore, MemoryCatalog, MemoryQueue
from imagelake.adapters.waking_queue import WakingQueue
from imagelake.domain.signing import Signer
from imagelake.ports import BlobStore, Catalog, Queue
from tests.aws_env import unique_name

BASE_URL = "http://imagelake.test"
SIGNER = Signer(b"current-secret", (b"previous-secret",))
QUEUE_NAME = "contract"

T = TypeVar("T")
Factory = Callable[[Path, pytest.FixtureRequest], T]


def aws_client(request: pytest.FixtureRequest, service: str) -> Any:
    """A boto3 client talking to the session's moto server (or AWS_ENDPOINT_URL)."""
    from imagelake.adapters.aws.clients import client

    request.getfixturevalue("aws_endpoint")
    return client(service)


def s3_blob_store(tmp_path: Path, request: pytest.FixtureRequest) -> BlobStore:
    s3 = aws_client(request, "s3")
    bucket = unique_name("contract-bucket")
    s3.create_bucket(Bucket=bucket)
    return S3BlobStore(s3, bucket, prefix="store-prefix")  # keys must come back without it


def dynamodb_catalog(tmp_path: Path, request: pytest.FixtureRequest) -> Catalog:
    catalog = DynamoDBCatalog(aws_client(request, "dynamodb"), unique_name("contract-catalog"))
    catalog.provision()
    return catalog


def sqs_queue(tmp_path: Path, request: pytest.FixtureRequest) -> Queue:
    queue = SqsQueue(aws_client(request, "sqs"), unique_name("contract-queue"))
    queue.provision(max_receives=10)  # above any receive count a contract test reaches
    return queue


BLOB_STORES: dict[str, Factory[BlobStore]] = {
    "memory": lambda tmp_path, request: MemoryBlobStore(BASE_URL, SIGNER),
    "embedded": lambda tmp_path, request: LocalBlobStore(tmp_path / "blobs", BASE_URL, SIGNER),
    "aws": s3_blob_store,
}
# Stores whose signed URLs are HMAC links that SIGNER can verify.
HMAC_SIGNED_STORES = ["memory", "embedded"]

CATALOGS: dict[str, Factory[Catalog]] = {
    "memory": lambda tmp_path, request: MemoryCatalog(),
    "embedded": lambda tmp_path, request: SqliteCatalog(tmp_path / "catalog.db"),
    "aws": dynamodb_catalog,
}

QUEUES: dict[str, Factory[Queue]] = {
    "memory": lambda tmp_path, request: MemoryQueue(QUEUE_NAME),
    "embedded": lambda tmp_path, request: SqliteQueue(tmp_path / "queue.db", QUEUE_NAME),
    "aws": sqs_queue,
    # The embedded queue behind `imagelake serve`'s wrapper, which wakes the workers on a send.
    "notifying": lambda tmp_path, request: WakingQueue(
        SqliteQueue(tmp_path / "queue.db", QUEUE_NAME), lambda: None
    ),
}
# Queues that ignore a stale receipt (one from before a redelivery). SQS does not promise
# it (an old receipt handle "might" still delete the message) and moto does not check.
FENCED_RECEIPT_QUEUES = ["memory", "embedded", "notifying"]


@pytest.fixture(params=list(BLOB_STORES))
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return BLOB_STORES[request.param](tmp_path, request)


@pytest.fixture(params=HMAC_SIGNED_STORES)
def hmac_blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return BLOB_STORES[request.param](tmp_path, request)


@pytest.fixture(params=list(CATALOGS))
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    adapter = CATALOGS[request.param](tmp_path, request)
    yield adapter
    adapter.close()


@pytest.fixture(params=list(QUEUES))
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Queue]:
    adapter = QUEUES[request.param](tmp_path, request)
    yield adapter
    adapter.close()


@pytest.fixture(params=FENCED_RECEIPT_QUEUES)
def fenced_queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Queue]:
    adapter = QUEUES[request.param](tmp_path, request)
    yield adapter
    adapter.close()


@pytest.fixture
def signer() -> Signer:
    return SIGNER


@pytest.fixture
def base_url() -> str:
    return BASE_URL
