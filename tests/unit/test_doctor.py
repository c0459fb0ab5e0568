"""DoctorService over the in-memory adapters: what it finds, and what --repair does about it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from imagelake.services.doctor import Checkup, DoctorService, Finding, Problem
from tests.unit.api_harness import Api, open_api
from tests.unit.fakes import FakeImageEngine, png

NOW = timedelta(0)  # no grace: every orphan counts at once


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_api(tmp_path, FakeImageEngine()) as api:
        yield api


def doctor(api: Api, page_size: int = 2) -> DoctorService:
    """The service as wired, but with pages of two records, so that paging is exercised."""
    c = api.wired.container
    return DoctorService(
        blobs=c.blobs, thumbnails=c.thumbnails, catalog=c.catalog, jobs=c.jobs, page_size=page_size
    )


def examine(api: Api, repair: bool = False, **options: Any) -> tuple[list[Finding], Checkup]:
    checkup = Checkup()
    findings = list(doctor(api).examine(checkup, repair=repair, **options))
    return findings, checkup


def uploaded(api: Api, count: int) -> list[dict[str, Any]]:
    return [api.upload_ready(png(60 + index, 40, seed=index)) for index in range(count)]


def test_a_healthy_store_has_no_findings(api: Api) -> None:
    uploaded(api, 5)

    findings, checkup = examine(api, grace=NOW)

    assert findings == []
    assert (checkup.images, checkup.originals, checkup.thumbnails) == (5, 5, 15)
    assert checkup.unrepaired == 0


def test_lost_thumbnails_are_requeued_and_made_again(api: Api) -> None:
    images = uploaded(api, 5)
    thumbnails = api.wired.container.thumbnails
    for key in list(thumbnails.list("thumbnails/")):
        thumbnails.delete(key)

    found, checkup = examine(api)
    assert {(f.problem, f.image_id, len(f.keys)) for f in found} == {
        (Problem.MISSING_THUMBNAILS, image["image_id"], 3) for image in images
    }
    assert checkup.unrepaired == 5
    assert api.wired.container.jobs.depth() == 0  # looking repairs nothing

    repaired, checkup = examine(api, repair=True)
    assert all(f.repaired for f in repaired) and checkup.unrepaired == 0
    assert {api.get_image(i["image_id"])["status"] for i in images} == {"processing"}
    assert api.drain() == 5

    for image in images:
        again = api.get_image(image["image_id"])
        assert again["status"] == "ready"
        assert all(api.fetch(link).status_code == 200 for link in again["thumbnails"].values())
    assert examine(api, grace=NOW)[0] == []


def test_orphan_blobs_are_deleted(api: Api) -> None:
    [kept] = uploaded(api, 1)
    c = api.wired.container
    orphan = str(uuid.uuid4())
    c.blobs.put(f"originals/{orphan}.jpg", b"\xff\xd8\xff", "image/jpeg")
    c.thumbnails.put(f"thumbnails/{orphan}/128.jpg", b"t", "image/jpeg")
    c.thumbnails.put(f"thumbnails/{orphan}/w300-h200.webp", b"v", "image/webp")

    found, _ = examine(api, grace=NOW)
    assert [(f.problem, f.image_id, f.keys) for f in found] == [
        (Problem.ORPHAN_ORIGINAL, orphan, (f"originals/{orphan}.jpg",)),
        (
            Problem.ORPHAN_THUMBNAILS,
            orphan,
            (f"thumbnails/{orphan}/128.jpg", f"thumbnails/{orphan}/w300-h200.webp"),
        ),
    ]

    examine(api, repair=True, grace=NOW)

    assert list(c.blobs.list(f"originals/{orphan}")) == []
    assert list(c.thumbnails.list(f"thumbnails/{orphan}/")) == []
    assert api.get_image(kept["image_id"])["status"] == "ready"
    assert examine(api, grace=NOW)[0] == []


def test_a_young_original_without_a_record_is_left_alone(api: Api) -> None:
    # An upload stores its original a moment before its record.
    api.wired.container.blobs.put(f"originals/{uuid.uuid4()}.png", png(8, 8), "image/png")

    assert examine(api, repair=True)[0] == []  # the default grace is an hour
    assert len(examine(api, grace=NOW)[0]) == 1


def test_a_record_without_its_original_is_reported_and_stays(api: Api) -> None:
    images = uploaded(api, 3)
    lost = images[1]
    api.wired.container.blobs.delete(f"originals/{lost['image_id']}.png")

    found, checkup = examine(api, repair=True, grace=NOW)

    assert [(f.problem, f.image_id, f.repaired) for f in found] == [
        (Problem.MISSING_ORIGINAL, lost["image_id"], False)
    ]
    assert checkup.unrepaired == 1
    assert api.get_image(lost["image_id"])["status"] == "ready"  # nothing to remake it from
    assert api.wired.container.jobs.depth() == 0


def test_the_wired_service_is_the_same(api: Api) -> None:
    uploaded(api, 1)

    assert list(api.wired.doctor.examine(Checkup(), grace=NOW)) == []
