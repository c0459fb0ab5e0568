"""The AWS environment every AWS test runs in: a moto server (or AWS_ENDPOINT_URL), the
variables boto3 reads, and what tests make on it (names, a deployment's settings, queues)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from imagelake.adapters.aws.clients import client, region
from tests.moto_server import MotoServer

ACCOUNT = "123456789012"  # moto's
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,  # an explicit profile would win over the keys above
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": None,
}


@contextmanager
def aws_environment() -> Iterator[str]:
    """An AWS endpoint and the process environment to reach it; restored on exit.

    AWS_ENDPOINT_URL, if set, is used as it is (only missing credentials are filled in);
    otherwise a moto server is started and the environment points at it alone.
    """
    saved = {name: os.environ.get(name) for name in ["AWS_ENDPOINT_URL", *AWS_TEST_ENV]}
    server: MotoServer | None = None
    url = os.environ.get("AWS_ENDPOINT_URL", "")
    if not url:
        server = MotoServer()
        url = server.start()
        os.environ["AWS_ENDPOINT_URL"] = url
        _apply(AWS_TEST_ENV)
    else:
        for name, value in AWS_TEST_ENV.items():
            if value is not None:
                os.environ.setdefault(name, value)
    client.cache_clear()
    try:
        yield url
    finally:
        client.cache_clear()
        if server is not None:
            server.stop()
        _apply(saved)


def _apply(variables: dict[str, str | None]) -> None:
    """Set each variable; None removes it."""
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def unique_name(kind: str, digits: int = 16) -> str:
    """A bucket, table, queue or topic name no other test (or earlier run) has used."""
    return f"{kind}-{uuid.uuid4().hex[:digits]}"


def topic_arn(name: str) -> str:
    return f"arn:aws:sns:{region()}:{ACCOUNT}:{name}"


def deployment_env(prefix: str, **settings: str) -> dict[str, str]:
    """IMAGELAKE_* variables of the AWS shape with every bucket, table, queue and topic named
    after prefix (`imagelake aws provision` makes them); settings add or override the rest."""
    env = {
        "IMAGELAKE_BLOBS": f"s3://{prefix}-originals",
        "IMAGELAKE_THUMBNAILS": f"s3://{prefix}-thumbnails",
        "IMAGELAKE_ARCHIVE": f"s3://{prefix}-lake",
        "IMAGELAKE_CATALOG": f"dynamodb://{prefix}",
        "IMAGELAKE_QUEUE": f"sqs://{prefix}-observer",
        "IMAGELAKE_JOBS_QUEUE": f"sqs://{prefix}-thumbnails",
        "IMAGELAKE_NOTIFY": f"sns://{topic_arn(f'{prefix}-alerts')}",
    }
    return env | {f"IMAGELAKE_{name.upper()}": value for name, value in settings.items()}


def queue_url(name: str) -> str:
    url: str = client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
    return url


def queue_arn(name: str) -> str:
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=queue_url(name), AttributeNames=["QueueArn"]
    )
    arn: str = attributes["Attributes"]["QueueArn"]
    return arn


def subscribe_queue(topic: str, queue: str) -> str:
    """Create queue and subscribe it to the topic (its ARN): what the topic publishes lands
    there, in SNS's JSON envelope. Returns the queue's URL."""
    url: str = client("sqs").create_queue(QueueName=queue)["QueueUrl"]
    client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(queue))
    return url


def receive_raw(
    queue: str, count: int, timeout: float = 20, hide: int = 60
) -> list[dict[str, Any]]:
    """At least count messages off the queue, exactly as SQS hands them to Lambda's poller."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        response = client("sqs").receive_message(
            QueueUrl=queue_url(queue),
            MaxNumberOfMessages=10,
            VisibilityTimeout=hide,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages.extend(response.get("Messages", []))
    assert len(messages) >= count, f"{len(messages)} of {count} messages arrived on {queue}"
    return messages
