"""The Lambda handlers, called in-process with events built from real messages received
off the emulator's queues, over S3, DynamoDB, SQS and SNS provisioned on the emulator.

moto cannot run Lambda code (no Docker), so this is how the handlers meet AWS here.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyarrow.parquet as pq
import pytest

from imagelake.adapters.aws.clients import client
from imagelake.adapters.aws.s3 import S3BlobStore
from imagelake.adapters.aws.sqs import SqsQueue
from imagelake.adapters.embedded.duckdb_engine import DuckDBEngine
from imagelake.aws import handlers, runtime
from imagelake.bootstrap import Services, provision
from imagelake.config import Settings
from imagelake.domain.errors import ImagelakeError, NotFound
from imagelake.domain.images import ImageStatus
from imagelake.lake.analytics import Analytics
from imagelake.lake.reports import Filters
from tests.aws_env import deployment_env, queue_arn, receive_raw, subscribe_queue, unique_name
from tests.integration.lambda_events import (
    CONTEXT,
    http_event,
    json_body,
    scheduled_event,
    sqs_event,
    sqs_records,
)
from tests.lake_rig import archive, by_day, requests
from tests.photos import photo_bytes

BAD_EVENT = b'{"event_name": "IMAGE_EXPLODED", "user_id": "7"}'


@dataclass
class Deployment:
    prefix: str
    token: str

    @property
    def wired(self) -> Services:
        return runtime.wired()

    def queue(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def api(
        self, method: str, path: str, body: bytes | None = None, **headers: str
    ) -> dict[str, Any]:
        headers.setdefault("authorization", f"Bearer {self.token}")
        return handlers.api(http_event(method, path, headers, body), CONTEXT)


@pytest.fixture
def deployment(
    aws_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Deployment]:
    """What the template makes, made by `imagelake aws provision` plus the S3 notification."""
    prefix = unique_name("lh", 12)
    env = deployment_env(
        prefix,
        data_dir=str(tmp_path),
        thumbnail_sizes="64,128",
        max_receives="3",
        retry_base_delay="0",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    provision(Settings())
    SqsQueue(client("sqs"), f"{prefix}-uploads").provision(max_receives=3)
    client("s3").put_bucket_notification_configuration(
        Bucket=f"{prefix}-originals",
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn(f"{prefix}-uploads"),
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
                }
            ]
        },
    )
    subscribe_queue(env["IMAGELAKE_NOTIFY"].removeprefix("sns://"), f"{prefix}-inbox")
    runtime.wired.cache_clear()
    runtime.asgi.cache_clear()
    _, token = runtime.wired().keys.create("lambda-tester")
    yield Deployment(prefix, token)
    runtime.wired.cache_clear()
    runtime.asgi.cache_clear()


def requested(image_id: str, user: str) -> bytes:
    return json.dumps(
        {
            "event_name": "IMAGE_REQUESTED",
            "user_id": user,
            "image_id": image_id,
            "timestamp": "2021-07-11T09:17:13+00:00",
        }
    ).encode()


def test_observer_batch_reports_exactly_the_bad_message(deployment: Deployment) -> None:
    image_id = str(uuid.uuid4())
    events = deployment.wired.container.events
    events.send([requested(image_id, "alice"), BAD_EVENT, requested(image_id, "bob")])
    messages = receive_raw(deployment.queue("observer"), 3)
    (bad_id,) = [m["MessageId"] for m in messages if "EXPLODED" in m["Body"]]

    response = handlers.observer(sqs_event(deployment.queue("observer"), messages), CONTEXT)

    assert response["batchItemFailures"] == [{"itemIdentifier": bad_id}]
    stats = deployment.wired.container.catalog.get_stats(image_id)
    assert (stats.request_count, stats.unique_users) == (2, 2)
    archive = deployment.wired.container.archive
    (key,) = archive.list("events/raw/event_name=IMAGE_REQUESTED/dt=2021-07-11/")
    assert len(archive.get(key).splitlines()) == 2
    (letter,) = events.dead_letters()
    assert letter.body == BAD_EVENT
    assert "invalid event" in letter.reason
    assert events.depth() == 0  # the good ones acked, the bad one moved, nothing left behind
    (alert,) = receive_raw(deployment.queue("inbox"), 1)
    assert "dead-lettered" in json.loads(alert["Body"])["Subject"]


def test_archive_then_store_pass_the_finished_records_on(deployment: Deployment) -> None:
    image_id = str(uuid.uuid4())
    events = deployment.wired.container.events
    events.send([requested(image_id, "carol"), BAD_EVENT, requested(image_id, "dave")])
    messages = receive_raw(deployment.queue("observer"), 3)
    batch = sqs_records(deployment.queue("observer"), messages)  # a Pipe sends a JSON array
    good = [r["messageId"] for r in batch if "EXPLODED" not in r["body"]]
    bad = [{"itemIdentifier": r["messageId"]} for r in batch if "EXPLODED" in r["body"]]

    archived = handlers.archive(batch, CONTEXT)

    assert [r["messageId"] for r in archived["records"]] == good
    assert archived["batchItemFailures"] == bad
    with pytest.raises(NotFound):
        deployment.wired.container.catalog.get_stats(image_id)

    stored = handlers.store(archived, CONTEXT)

    assert stored == archived
    stats = deployment.wired.container.catalog.get_stats(image_id)
    assert (stats.request_count, stats.unique_users) == (2, 2)
    assert events.depth() == 0


def test_a_direct_upload_becomes_an_image_with_thumbnails(deployment: Deployment) -> None:
    created = deployment.api(
        "POST",
        "/images/uploads",
        b'{"content_type": "image/jpeg"}',
        **{"content-type": "application/json"},
    )
    assert created["statusCode"] == 201, created
    ticket = json_body(created)
    assert ticket["key"].startswith("incoming/")
    # moto accepts any form; what S3 would enforce is in the signed policy.
    policy = json.loads(base64.b64decode(ticket["fields"]["policy"]))
    max_bytes = Settings().max_upload_bytes
    assert ticket["max_bytes"] == max_bytes
    assert ["content-length-range", 1, max_bytes] in policy["conditions"]
    assert {"key": ticket["key"]} in policy["conditions"]
    assert {"Content-Type": "image/jpeg"} in policy["conditions"]
    photo = photo_bytes("coffee", scale=0.5)

    posted = httpx.post(
        ticket["url"], data=ticket["fields"], files={"file": ("coffee.jpg", photo, "image/jpeg")}
    )
    assert posted.status_code == 204, posted.text

    notices = receive_raw(deployment.queue("uploads"), 2)  # S3's test event, then ours
    bodies = [json.loads(m["Body"]) for m in notices]
    assert {"Event": "s3:TestEvent"}.items() <= bodies[0].items()
    assert bodies[1]["Records"][0]["s3"]["object"]["key"] == ticket["key"].replace("/", "%2F")
    finished = handlers.thumbnails(sqs_event(deployment.queue("uploads"), notices), CONTEXT)
    assert finished["batchItemFailures"] == []

    status = json_body(deployment.api("GET", f"/images/uploads/{ticket['upload_id']}"))
    assert status["status"] == "accepted", status
    image_id = status["image_id"]
    blobs = deployment.wired.container.blobs
    with pytest.raises(NotFound):
        blobs.head(ticket["key"])  # the incoming copy is gone; the original is stored

    jobs = receive_raw(deployment.queue("thumbnails"), 1)
    made = handlers.thumbnails(sqs_event(deployment.queue("thumbnails"), jobs), CONTEXT)

    assert made["batchItemFailures"] == []
    thumbnails = deployment.wired.container.thumbnails
    assert list(thumbnails.list(f"thumbnails/{image_id}/")) == [
        f"thumbnails/{image_id}/v/128x128-inside-q82.jpg",
        f"thumbnails/{image_id}/v/64x64-inside-q82.jpg",
    ]
    image = deployment.wired.container.catalog.get_image(image_id)
    assert image.status == ImageStatus.READY
    assert blobs.get(image.original_key) == photo


def test_a_direct_upload_of_no_image_is_rejected_with_the_reason(
    deployment: Deployment,
) -> None:
    ticket = json_body(deployment.api("POST", "/images/uploads"))
    fields = ticket["fields"]
    posted = httpx.post(ticket["url"], data=fields, files={"file": ("x", b"not an image at all")})
    assert posted.status_code == 204, posted.text

    notices = receive_raw(deployment.queue("uploads"), 2)
    finished = handlers.thumbnails(sqs_event(deployment.queue("uploads"), notices), CONTEXT)

    assert finished["batchItemFailures"] == []  # a final answer, not a retry
    status = json_body(deployment.api("GET", f"/images/uploads/{ticket['upload_id']}"))
    assert status["status"] == "rejected"
    assert status["image_id"] is None
    assert status["error"]["code"] == "unsupported_media_type"


def test_the_api_through_mangum(deployment: Deployment, aws_endpoint: str) -> None:
    health = deployment.api("GET", "/healthz")
    assert health["statusCode"] == 200
    assert json_body(health)["status"] == "ok"

    photo = photo_bytes("chelsea", scale=0.25)
    created = deployment.api("POST", "/images", photo, **{"content-type": "image/jpeg"})
    assert created["statusCode"] == 201, created
    image_id = json_body(created)["image_id"]

    download = deployment.api("GET", f"/images/{image_id}/download")
    assert download["statusCode"] == 302
    link = urlsplit(download["headers"]["location"])
    assert link.path == f"/d/{image_id}"  # a delivery link: counted when fetched, then...
    event = http_event("GET", link.path, {}, None, query=link.query)
    fetched = handlers.api(event, CONTEXT)  # no key
    assert fetched["statusCode"] == 302
    location = fetched["headers"]["location"]
    assert location.startswith(aws_endpoint)  # ...S3 sends the bytes, not the Lambda
    assert "X-Amz-Signature=" in location
    assert httpx.get(location).content == photo

    refused = deployment.api("GET", "/images", authorization="Bearer nope")
    assert refused["statusCode"] == 401
    assert json_body(refused)["error"]["code"] == "unauthorized"


def lake_listing(bucket: str, prefix: str) -> dict[str, tuple[str, object]]:
    """key -> (ETag, LastModified) of every object under prefix, straight from S3."""
    listed = client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: (o["ETag"], o["LastModified"]) for o in listed}


def test_the_scheduled_compaction_fills_the_parquet_table(
    deployment: Deployment, tmp_path: Path
) -> None:
    lake = deployment.wired.container.archive
    reqs = requests(300)  # from 2021-07-10 22:00 every 7 minutes: closed hours, three days
    archive(lake, [r.body for r in reqs[:200]])
    archive(lake, [r.body for r in reqs[150:]])  # 50 redelivered
    days = by_day(reqs)

    summary = handlers.compact(scheduled_event(), CONTEXT)

    assert {k: v for k, v in summary.items() if k != "seconds"} == {
        "partitions_compacted": len(days),
        "events": len(reqs),
        "duplicates_dropped": 50,
        "partitions_up_to_date": 0,
        "open_hour_batches": 0,
        "batches_quarantined": 0,
    }
    assert json.loads(json.dumps(summary)) == summary  # Lambda returns it as JSON
    bucket = f"{deployment.prefix}-lake"
    compacted = lake_listing(bucket, "events/parquet/")
    s3 = client("s3")
    for day, (events, _, _) in days.items():
        folder = f"events/parquet/event_name=IMAGE_REQUESTED/dt={day}/"
        parts = [k for k in compacted if k.startswith(folder) and k.endswith(".parquet")]
        assert len(parts) == 1 and f"{folder}_manifest.json" in compacted, sorted(compacted)
        body = s3.get_object(Bucket=bucket, Key=parts[0])["Body"].read()
        assert pq.read_table(io.BytesIO(body)).num_rows == events  # what Athena's `events` reads
    analytics = Analytics(S3BlobStore(s3, bucket), DuckDBEngine(), tmp_path / "query-cache")
    assert {
        str(d.day): (d.requests, d.unique_users, d.unique_images)
        for d in analytics.by_day(Filters())
    } == days

    again = handlers.compact(scheduled_event(), CONTEXT)

    assert (again["partitions_compacted"], again["events"]) == (0, 0)
    assert again["partitions_up_to_date"] == len(days)
    assert lake_listing(bucket, "events/parquet/") == compacted


def test_a_failed_compaction_is_logged_and_raised(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    missing = f"{deployment.prefix}-no-such-lake"
    monkeypatch.setenv("IMAGELAKE_ARCHIVE", f"s3://{missing}")
    runtime.wired.cache_clear()

    with caplog.at_level(logging.INFO), pytest.raises(ImagelakeError, match=missing):
        handlers.compact(scheduled_event(), CONTEXT)

    (failure,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "lake compaction failed" in failure.getMessage()
    assert missing in failure.getMessage()


def test_the_scheduled_eviction_keeps_rendered_variants_under_the_budget(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = photo_bytes("chelsea", scale=0.25)
    created = deployment.api("POST", "/images", photo, **{"content-type": "image/jpeg"})
    image_id = json_body(created)["image_id"]
    auth = {"authorization": f"Bearer {deployment.token}"}
    minted = handlers.api(
        http_event("GET", f"/images/{image_id}/download", auth, query="w=50&format=webp"),
        CONTEXT,
    )
    link = urlsplit(minted["headers"]["location"])

    def fetch() -> dict[str, Any]:
        return handlers.api(http_event("GET", link.path, {}, query=link.query), CONTEXT)

    def variants() -> list[str]:
        listed = client("s3").list_objects_v2(
            Bucket=f"{deployment.prefix}-thumbnails", Prefix=f"thumbnails/{image_id}/v/"
        )
        return [o["Key"] for o in listed.get("Contents", [])]

    assert fetch()["statusCode"] == 302  # rendered into the bucket, then redirected to it
    assert variants() == [f"thumbnails/{image_id}/v/50x0-q82.webp"]
    under = handlers.evict(scheduled_event(), CONTEXT)
    monkeypatch.setenv("IMAGELAKE_VARIANT_CACHE_BYTES", "1")
    runtime.wired.cache_clear()
    runtime.asgi.cache_clear()
    over = handlers.evict(scheduled_event(), CONTEXT)

    assert under["variants_evicted"] == 0 and under["bytes_kept"] > 0
    assert over["variants_evicted"] == 1 and over["bytes_kept"] == 0
    assert variants() == []
    assert fetch()["statusCode"] == 302  # the link still works: rendered again
    assert variants() == [f"thumbnails/{image_id}/v/50x0-q82.webp"]
