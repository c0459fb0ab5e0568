"""What the thumbnail worker does to the API's view: failures, the compat route, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelake.api import routes_images
from imagelake.domain.variants import Render
from imagelake.ports import Rendered
from tests.unit.api_harness import PUBLIC_URL, Api, open_api
from tests.unit.fakes import FakeImageEngine, png, truncated_png

MAX_RECEIVES = 3
PHOTO, OTHER_PHOTO = png(600, 400), png(600, 400, seed=1)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    engine = FakeImageEngine()
    with open_api(tmp_path, engine, max_receives=MAX_RECEIVES, visibility_timeout=30) as api:
        yield api


def test_a_file_that_fails_to_decode_ends_failed_and_the_next_job_runs(api: Api) -> None:
    bad = api.upload(truncated_png())
    good = api.upload(OTHER_PHOTO)
    assert bad.status_code == 201

    api.drain()

    failed = api.get_image(bad.json()["image_id"])
    assert failed["status"] == "failed"
    assert "cannot decode the image" in failed["failure_reason"]
    assert failed["thumbnails"] is None
    assert api.get_image(good.json()["image_id"])["status"] == "ready"
    assert api.wired.container.jobs.depth() == 0
    engine = api.wired.container.engine
    renders = 0
    render = engine.render

    def counted(data: bytes, asked: Render) -> Rendered:
        nonlocal renders
        renders += 1
        return render(data, asked)

    engine.render = counted  # type: ignore[method-assign,assignment]
    download = api.client.get(f"/images/{failed['image_id']}/download", params={"size": "128"})
    assert download.status_code == 422  # the link, fetched: the verdict, not another try
    assert download.json()["error"]["message"] == (
        f"image {failed['image_id']} failed: {failed['failure_reason']}"
    )
    assert renders == 0


def test_a_job_that_keeps_failing_is_retried_a_bounded_number_of_times(api: Api) -> None:
    bad = api.upload(PHOTO).json()
    api.wired.container.blobs.delete(f"originals/{bad['image_id']}.png")  # the worker can't read it
    good = api.upload(OTHER_PHOTO).json()

    handled = api.drain()

    assert handled == MAX_RECEIVES + 1  # three tries of the bad job, one of the good
    failed = api.get_image(bad["image_id"])
    assert failed["status"] == "failed"
    assert failed["failure_reason"].startswith("NotFound: no blob")
    assert "after 3 attempts" in failed["failure_reason"]
    assert api.get_image(good["image_id"])["status"] == "ready"
    [dead] = api.wired.container.jobs.dead_letters()
    assert bad["image_id"] in dead.body.decode()
    assert dead.attempts == MAX_RECEIVES


def test_a_job_whose_workers_keep_dying_is_given_up(api: Api) -> None:
    image_id = api.upload(truncated_png()).json()["image_id"]
    jobs = api.wired.container.jobs
    for _ in range(MAX_RECEIVES):  # each delivery claimed, then its worker "dies"
        [message] = jobs.receive(1, visibility_timeout=0)
        assert image_id in message.body.decode()

    assert api.drain() == 1

    failed = api.get_image(image_id)
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "gave up after 3 deliveries that never finished"
    assert jobs.depth() == 0


def test_a_malformed_job_is_dead_lettered_without_blocking(api: Api) -> None:
    api.wired.container.jobs.send([b"not json"])
    image_id = api.upload(PHOTO).json()["image_id"]

    api.drain()

    assert api.get_image(image_id)["status"] == "ready"
    assert [d.body for d in api.wired.container.jobs.dead_letters()] == [b"not json"]


def test_the_compat_route_waits_for_the_thumbnail(api: Api) -> None:
    data = PHOTO

    with api.worker():
        reply = api.client.post(
            "/upload_image", content=data, headers={"Content-Type": "image/jpg"}
        )

    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"image_id", "thumbnail_url"}
    assert body["thumbnail_url"].startswith(f"{PUBLIC_URL}/d/{body['image_id']}?w=512&h=512&")
    thumbnail = api.fetch(body["thumbnail_url"])
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert api.get_image(body["image_id"])["sha256"]  # a real image behind the id


def test_the_compat_route_answers_a_duplicate_at_once(api: Api) -> None:
    data = PHOTO
    first_id = api.upload_ready(data)["image_id"]

    reply = api.client.post("/upload_image", content=data, headers={"Content-Type": "image/jpg"})

    assert reply.status_code == 200
    assert reply.json()["image_id"] == first_id


def test_the_compat_route_reports_a_failed_thumbnail(api: Api) -> None:
    with api.worker():
        reply = api.client.post(
            "/upload_image", content=truncated_png(), headers={"Content-Type": "image/png"}
        )

    assert reply.status_code == 422
    assert reply.json()["error"]["message"].startswith("thumbnail failed: cannot decode")


def test_the_compat_route_refuses_bad_input_like_the_main_route(api: Api) -> None:
    reply = api.client.post("/upload_image", content=b"text", headers={"Content-Type": "image/jpg"})

    assert reply.status_code == 415


def test_metrics_count_uploads_duplicates_thumbnails_failures_and_queue_depth(api: Api) -> None:
    before = {
        "uploads": api.metric("imagelake_uploads_total"),
        "duplicates": api.metric("imagelake_duplicate_uploads_total"),
        "thumbnails": api.metric("imagelake_thumbnails_total"),
        "timed": api.metric("imagelake_thumbnail_seconds_count"),
        "failures": api.metric("imagelake_failures_total", kind="thumbnail"),
        "rejected": api.metric("imagelake_rejected_uploads_total", reason="unsupported_media_type"),
    }
    data = PHOTO
    api.upload(data)
    api.upload(data)
    api.upload(truncated_png())
    api.upload(b"not an image")
    assert api.metric("imagelake_queue_depth", queue="thumbnails") == 2

    api.drain()

    assert api.metric("imagelake_uploads_total") == before["uploads"] + 2
    assert api.metric("imagelake_duplicate_uploads_total") == before["duplicates"] + 1
    assert api.metric("imagelake_thumbnails_total") == before["thumbnails"] + 3
    assert api.metric("imagelake_thumbnail_seconds_count") == before["timed"] + 1
    assert api.metric("imagelake_thumbnail_seconds_bucket", le="+Inf") >= before["timed"] + 1
    assert api.metric("imagelake_failures_total", kind="thumbnail") == before["failures"] + 1
    assert (
        api.metric("imagelake_rejected_uploads_total", reason="unsupported_media_type")
        == before["rejected"] + 1
    )
    assert api.metric("imagelake_queue_depth", queue="thumbnails") == 0
    assert api.client.get("/metrics").headers["content-type"].startswith("text/plain")


def test_the_compat_route_says_503_when_no_worker_gets_to_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_images, "LEGACY_WAIT_SECONDS", 0.3)

    reply = api.client.post("/upload_image", content=PHOTO, headers={"Content-Type": "image/jpg"})

    assert reply.status_code == 503
    image_id = api.client.get("/images").json()["images"][0]["image_id"]
    assert reply.json()["error"]["message"] == (
        f"thumbnails not ready after 0.3 s; poll GET /images/{image_id}"
    )
    api.drain()  # the upload itself was kept, and completes once a worker runs
    assert api.get_image(image_id)["status"] == "ready"
