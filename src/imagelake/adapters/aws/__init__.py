"""The AWS shape: S3, DynamoDB, SQS and SNS over boto3 (any endpoint: AWS_ENDPOINT_URL).

Factories import boto3 when called, so the other shapes never load it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from imagelake.adapters.urls import host
from imagelake.ports import BackendSpec, BlobStore, Catalog, Factory, Notifier, Queue

if TYPE_CHECKING:
    from imagelake.adapters.aws.dynamodb import DynamoDBCatalog
    from imagelake.adapters.aws.s3 import S3BlobStore
    from imagelake.adapters.aws.sns import SnsNotifier
    from imagelake.adapters.aws.sqs import SqsQueue


def s3_store(spec: BackendSpec) -> S3BlobStore:
    from imagelake.adapters.aws.clients import s3_client
    from imagelake.adapters.aws.s3 import S3BlobStore

    return S3BlobStore(s3_client(), host(spec.url), urlsplit(spec.url).path.strip("/"))


def dynamodb_catalog(spec: BackendSpec) -> DynamoDBCatalog:
    from imagelake.adapters.aws.clients import dynamodb_client
    from imagelake.adapters.aws.dynamodb import DynamoDBCatalog

    return DynamoDBCatalog(dynamodb_client(), host(spec.url))


def sqs_queue(spec: BackendSpec) -> SqsQueue:
    from imagelake.adapters.aws.clients import sqs_client
    from imagelake.adapters.aws.sqs import SqsQueue

    return SqsQueue(sqs_client(), host(spec.url))


def sns_notifier(spec: BackendSpec) -> SnsNotifier:
    from imagelake.adapters.aws.clients import sns_client
    from imagelake.adapters.aws.sns import SnsNotifier

    return SnsNotifier(sns_client(), spec.url.removeprefix("sns://"))


BLOB_STORES: dict[str, Factory[BlobStore]] = {"s3": s3_store}
CATALOGS: dict[str, Factory[Catalog]] = {"dynamodb": dynamodb_catalog}
QUEUES: dict[str, Factory[Queue]] = {"sqs": sqs_queue}
NOTIFIERS: dict[str, Factory[Notifier]] = {"sns": sns_notifier}


def provision_s3(spec: BackendSpec) -> list[str]:
    return s3_store(spec).provision(upload_origin=spec.public_origin)


def provision_dynamodb(spec: BackendSpec) -> list[str]:
    return dynamodb_catalog(spec).provision()


def provision_sqs(spec: BackendSpec) -> list[str]:
    return sqs_queue(spec).provision(spec.max_receives)


def provision_sns(spec: BackendSpec) -> list[str]:
    return sns_notifier(spec).provision()


# Each creates what its backend lives in, idempotently, and says what it did, a line each.
PROVISIONERS: dict[str, Callable[[BackendSpec], list[str]]] = {
    "s3": provision_s3,
    "dynamodb": provision_dynamodb,
    "sqs": provision_sqs,
    "sns": provision_sns,
}
