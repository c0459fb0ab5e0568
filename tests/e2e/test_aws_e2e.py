"""`imagelake serve` on S3, DynamoDB, SQS and SNS (the emulator), over real HTTP and the CLI:
the same flow as the embedded shape, upload -> ready -> download -> event -> stats."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from imagelake.adapters.aws.clients import client
from tests.aws_env import deployment_env, unique_name
from tests.e2e.service import Service
from tests.photos import photo_bytes

SIZES = ("128", "256")


@pytest.fixture
def aws_service(aws_endpoint: str, tmp_path: Path) -> Iterator[Service]:
    prefix = unique_name("e2e", 12)
    env = deployment_env(prefix, thumbnail_sizes=",".join(SIZES), max_receives="2")
    svc = Service(tmp_path / "data", extra_env=env, workers=1)
    svc.data_dir.mkdir(parents=True)
    provisioned = svc.cli("aws", "provision")
    assert provisioned.returncode == 0, provisioned.stderr.decode()
    lines = provisioned.stdout.decode().splitlines()
    assert f"s3 bucket {prefix}-originals: created" in lines
    assert any(line.startswith(f"sqs queue {prefix}-observer: created") for line in lines)
    again = svc.cli("aws", "provision")  # idempotent: everything exists now
    assert again.returncode == 0 and "created" not in again.stdout.decode()
    svc.start()
    yield svc
    svc.stop()


def wait_for_stats(svc: Service, image_id: str, count: int) -> dict[str, object]:
    deadline = time.monotonic() + 60
    body: dict[str, object] = {}
    with svc.client() as api:
        while time.monotonic() < deadline:
            reply = api.get(f"/images/{image_id}/stats")
            body = reply.json()
            if reply.status_code == 200 and body["request_count"] == count:
                return body
            time.sleep(0.2)
    raise AssertionError(f"stats of {image_id} never reached {count}: {body}")


def test_upload_ready_download_event_stats_on_aws(aws_service: Service, aws_endpoint: str) -> None:
    photo = photo_bytes("rocket", scale=0.5)
    with aws_service.client() as api, httpx.Client(timeout=30) as anonymous:
        created = api.post("/images", content=photo, headers={"Content-Type": "image/jpeg"})
        assert created.status_code == 201, created.text
        image_id = created.json()["image_id"]

        ready = aws_service.wait_for(image_id)
        thumbnails = ready["thumbnails"]
        assert isinstance(thumbnails, dict) and set(thumbnails) == set(SIZES)

        download = api.get(f"/images/{image_id}/download")
        assert download.status_code == 302
        link = download.headers["location"]
        assert link.startswith(f"{aws_service.base_url}/d/{image_id}?")  # counted, then...
        fetched = anonymous.get(link)
        assert fetched.status_code == 302
        location = fetched.headers["location"]
        assert location.startswith(aws_endpoint)  # ...a presigned S3 URL: no bytes through us
        assert "X-Amz-Signature=" in urlsplit(location).query
        assert anonymous.get(location).content == photo
        variant = anonymous.get(
            api.get(f"/images/{image_id}/download?w=100&format=webp").headers["location"],
            follow_redirects=True,
        )
        assert variant.headers["content-type"] == "image/webp"
        bucket = aws_service.extra_env["IMAGELAKE_THUMBNAILS"].removeprefix("s3://")
        kept = client("s3").list_objects_v2(Bucket=bucket, Prefix=f"thumbnails/{image_id}/v/")
        assert f"thumbnails/{image_id}/v/100x0-q82.webp" in [o["Key"] for o in kept["Contents"]]

        pushed = {
            "event_name": "IMAGE_REQUESTED",
            "user_id": "external-42",
            "image_id": image_id,
            "timestamp": "2021-07-11T09:17:13+00:00",
        }
        payload = json.dumps(pushed, indent=1).encode()  # pretty-printed, kept byte for byte
        headers = {"Content-Type": "application/json"}
        assert api.post("/events", content=payload, headers=headers).status_code == 202

        stats = wait_for_stats(aws_service, image_id, 3)  # two downloads, one pushed
        assert stats["unique_users"] == 2
        assert stats["last_user_id"] == "tester"  # the download came after 2021

    lake = client("s3").list_objects_v2(
        Bucket=f"{aws_service.extra_env['IMAGELAKE_ARCHIVE'].removeprefix('s3://')}",
        Prefix="events/raw/event_name=IMAGE_REQUESTED/dt=2021-07-11/hour=09/",
    )
    (archived,) = lake["Contents"]
    body = client("s3").get_object(Bucket=lake["Name"], Key=archived["Key"])["Body"].read()
    assert json.loads(body)["raw"].encode() == payload


def test_bad_payloads_land_in_the_sqs_dead_letter_queue(aws_service: Service) -> None:
    sent = aws_service.cli("events", "send", "-", stdin=b'{"event_name": "NOT_AN_EVENT"}')
    assert sent.returncode == 0, sent.stderr.decode()

    deadline = time.monotonic() + 60
    letters: list[dict[str, object]] = []
    while not letters and time.monotonic() < deadline:
        listed = aws_service.cli("dlq", "list", "--json")
        assert listed.returncode == 0, listed.stderr.decode()
        letters = [json.loads(line) for line in listed.stdout.decode().splitlines()]
        time.sleep(0.5)

    (letter,) = letters
    assert letter["body"] == '{"event_name": "NOT_AN_EVENT"}'
    assert "unknown event_name" in str(letter["reason"])
    with aws_service.client() as api:
        assert api.get("/healthz").json()["queues"]["events"] == 0


def test_a_direct_upload_is_completed_by_the_client_on_serve(aws_service: Service) -> None:
    photo = photo_bytes("coffee", scale=0.5)
    with aws_service.client() as api, httpx.Client(timeout=30) as anonymous:
        form = api.post("/images/uploads", json={"content_type": "image/jpeg"})
        assert form.status_code == 201, form.text
        ticket = form.json()
        early = api.post(ticket["complete_url"])
        assert early.status_code == 409, early.text  # nothing in S3 yet

        posted = anonymous.post(
            ticket["url"],
            data=ticket["fields"],
            files={"file": ("coffee.jpg", photo, "image/jpeg")},
        )
        assert posted.status_code == 204, posted.text
        done = api.post(ticket["complete_url"])
        assert done.status_code == 201, done.text
        image_id = done.json()["image_id"]
        again = api.post(ticket["complete_url"])
        assert (again.status_code, again.json()["image_id"]) == (201, image_id)
        status = api.get(ticket["status_url"]).json()
        assert (status["status"], status["image_id"]) == ("accepted", image_id)

        ready = aws_service.wait_for(image_id)
        assert isinstance(ready["thumbnails"], dict) and set(ready["thumbnails"]) == set(SIZES)
        original = api.get(f"/images/{image_id}/download").headers["location"]
        assert anonymous.get(original, follow_redirects=True).content == photo  # counted, then S3

    bucket = aws_service.extra_env["IMAGELAKE_BLOBS"].removeprefix("s3://")
    assert client("s3").list_objects_v2(Bucket=bucket, Prefix="incoming/")["KeyCount"] == 0
