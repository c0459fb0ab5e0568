"""boto3 clients built once per process, and the translation of AWS errors into ours."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from imagelake.domain.errors import BackendError, InvalidInput, NotFound

if TYPE_CHECKING:  # boto3-stubs: types only, never needed at run time
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

NOT_FOUND_CODES = frozenset({"404", "NoSuchKey"})  # a missing table or queue is no 404
INVALID_CODES = frozenset({"ValidationException", "InvalidParameterValue", "InvalidParameter"})


def endpoint_url(service: str) -> str | None:
    """The endpoint override for service, as boto3 itself resolves it from the environment."""
    specific = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}")
    return specific or os.environ.get("AWS_ENDPOINT_URL") or None


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def client_config(service: str, endpoint: str | None) -> Config:
    options: dict[str, Any] = {
        "region_name": region(),
        "retries": {"mode": "standard", "max_attempts": 5},
        "connect_timeout": 5,
        # Above SQS's 20 s long poll, so a waiting receive is never cut off.
        "read_timeout": 40,
        "max_pool_connections": 50,
    }
    if service == "s3":
        options["signature_version"] = "s3v4"
        # Emulators serve one host: virtual-hosted bucket names would not resolve.
        options["s3"] = {"addressing_style": "path" if endpoint else "auto"}
    return Config(**options)


@functools.cache
def client(service: str) -> Any:
    """A thread-safe boto3 client for service, honouring AWS_ENDPOINT_URL and AWS_REGION."""
    endpoint = endpoint_url(service)
    session = boto3.session.Session()
    return session.client(  # type: ignore[call-overload]
        service, endpoint_url=endpoint, config=client_config(service, endpoint)
    )


def s3_client() -> S3Client:
    s3: S3Client = client("s3")
    return s3


def sqs_client() -> SQSClient:
    sqs: SQSClient = client("sqs")
    return sqs


def dynamodb_client() -> DynamoDBClient:
    dynamodb: DynamoDBClient = client("dynamodb")
    return dynamodb


def sns_client() -> SNSClient:
    sns: SNSClient = client("sns")
    return sns


# A forked worker must not share the parent's connection pools.
os.register_at_fork(after_in_child=client.cache_clear)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: Exception, what: str) -> Exception:
    """Our error type for a boto3 failure while doing what."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or code
        if code in NOT_FOUND_CODES:
            return NotFound(f"{what}: not found")
        if code in INVALID_CODES:
            return InvalidInput(f"{what}: {message}")
        return BackendError(f"{what}: {code}: {message}")
    return BackendError(f"{what}: {exc}")


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """Raise boto3 failures inside the block as NotFound, InvalidInput or BackendError."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, what) from exc
