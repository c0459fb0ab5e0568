"""S3 and SNS specifics over a moto server; the BlobStore contract covers the rest."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest

from imagelake.adapters.aws.clients import client
from imagelake.adapters.aws.s3 import MiB, S3BlobStore
from imagelake.adapters.aws.sns import SnsNotifier
from imagelake.domain.errors import BackendError
from imagelake.ports import Notification
from tests.aws_env import receive_raw, subscribe_queue, topic_arn, unique_name


@pytest.fixture
def s3(aws_endpoint: str) -> Any:
    return client("s3")


@pytest.fixture
def store(s3: Any) -> S3BlobStore:
    bucket = unique_name("test", 20)
    s3.create_bucket(Bucket=bucket)
    return S3BlobStore(s3, bucket, prefix="p")


def test_large_objects_go_up_in_parts(store: S3BlobStore, s3: Any) -> None:
    data = os.urandom(20 * MiB)

    store.put("originals/big.tif", data, "image/tiff")

    meta = store.head("originals/big.tif")
    assert meta.etag.rstrip('"').endswith("-3")  # S3 marks multipart ETags with the part count
    assert (meta.size, meta.content_type) == (len(data), "image/tiff")
    assert store.get("originals/big.tif") == data


def test_signed_url_serves_the_object(store: S3BlobStore) -> None:
    store.put("thumbnails/x/128.jpg", b"jpeg bytes", "image/jpeg")

    response = httpx.get(store.signed_url("thumbnails/x/128.jpg", 60))

    assert response.status_code == 200
    assert response.content == b"jpeg bytes"
    assert response.headers["content-type"] == "image/jpeg"


def test_presigned_post_uploads_from_a_form(store: S3BlobStore) -> None:
    post = store.presigned_post("uploads/new.jpg", "image/jpeg", max_bytes=1000, ttl=60)

    response = httpx.post(post["url"], data=post["fields"], files={"file": b"\xff\xd8form"})

    assert response.status_code in (200, 201, 204)
    assert store.get("uploads/new.jpg") == b"\xff\xd8form"
    assert store.head("uploads/new.jpg").content_type == "image/jpeg"


def test_a_missing_bucket_is_a_backend_error_not_a_missing_blob(s3: Any) -> None:
    store = S3BlobStore(s3, unique_name("missing"))

    with pytest.raises(BackendError, match="NoSuchBucket"):
        store.get("a.jpg")


def test_notification_reaches_a_subscribed_queue(aws_endpoint: str) -> None:
    topic = client("sns").create_topic(Name=unique_name("test"))["TopicArn"]
    inbox = unique_name("test")
    subscribe_queue(topic, inbox)

    SnsNotifier(client("sns"), topic).notify(
        Notification("Dead letter\nin events", "1 event failed", data={"reason": "bad JSON"})
    )

    (received,) = receive_raw(inbox, 1)
    envelope = json.loads(received["Body"])
    assert envelope["Subject"] == "Dead letter in events"
    assert json.loads(envelope["Message"]) == {
        "message": "1 event failed",
        "data": {"reason": "bad JSON"},
    }
    assert envelope["MessageAttributes"]["kind"]["Value"] == "failure"


def test_publishing_to_a_missing_topic_is_a_backend_error(aws_endpoint: str) -> None:
    notifier = SnsNotifier(client("sns"), topic_arn("missing"))

    with pytest.raises(BackendError):
        notifier.notify(Notification("subject", "message"))
