"""GET /stats/requests and /stats/summary in-process, over a lake the real archiver filled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from imagelake.adapters.embedded.duckdb_engine import DuckDBEngine
from imagelake.domain.access import Role
from imagelake.lake.compaction import LakeCompactor
from tests.lake_rig import (
    Request,
    archive,
    by_day,
    image_counts,
    payload,
    requests,
    user_counts,
)
from tests.unit.api_harness import Api, open_api
from tests.unit.fakes import FakeImageEngine, png

REQS = requests(400)
STEP = timedelta(minutes=1)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_api(tmp_path, role=Role.ANALYST) as api:
        lake = api.wired.container.archive
        archive(lake, [r.body for r in REQS[:250]])
        LakeCompactor(lake, DuckDBEngine()).compact()
        archive(lake, [r.body for r in REQS[200:]])  # some of it redelivered, not compacted
        yield api


def test_requests_per_day(api: Api) -> None:
    reply = api.client.get("/stats/requests", params={"by": "day"})

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["by"], body["since"], body["top"]) == ("day", None, None)
    assert {
        r["day"]: (r["requests"], r["unique_users"], r["unique_images"]) for r in body["rows"]
    } == (by_day(REQS))


def test_top_images_with_unique_users(api: Api) -> None:
    reply = api.client.get("/stats/requests", params={"by": "image", "top": 2})

    rows = reply.json()["rows"]
    counts = image_counts(REQS)
    assert len(rows) == 2
    assert [r["requests"] for r in rows] == sorted(n for n, _ in counts.values())[::-1][:2]
    for row in rows:
        assert (row["requests"], row["unique_users"]) == counts[row["image_id"]]
        last = max(r.at for r in REQS if r.image == row["image_id"])
        assert row["last_requested_at"] == last.isoformat().replace("+00:00", "Z")


def test_top_users_within_dates(api: Api) -> None:
    reply = api.client.get(
        "/stats/requests", params={"by": "user", "since": "2021-07-11", "until": "2021-07-11"}
    )

    assert reply.status_code == 200
    chosen: list[Request] = [r for r in REQS if r.at.date().isoformat() == "2021-07-11"]
    assert {r["user_id"]: (r["requests"], r["unique_images"]) for r in reply.json()["rows"]} == (
        user_counts(chosen)
    )


def test_top_variants(api: Api) -> None:
    lake = api.wired.container.archive
    later = REQS[-1].at + timedelta(hours=1)
    sent = [("u1", "image-1", "512x512-inside-q82.jpg"), ("u2", "image-1", "original")]
    sent += [("u1", "image-2", "512x512-inside-q82.jpg"), ("u3", "image-3", "original")]
    sent += [("u4", "image-3", "512x512-inside-q82.jpg")]
    archive(lake, [payload(u, i, later + n * STEP, variant=v) for n, (u, i, v) in enumerate(sent)])
    archive(lake, [payload("u5", "image-9", later, size="256")])  # an older event's size

    reply = api.client.get("/stats/requests", params={"by": "variant", "top": 3})

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["by"], body["top"], body["image_id"]) == ("variant", 3, None)
    rows = [
        (r["variant"], r["requests"], r["unique_users"], r["unique_images"]) for r in body["rows"]
    ]
    old_users, old_images = len(user_counts(REQS)), len(image_counts(REQS))
    assert rows == [
        ("unknown", len(REQS), old_users, old_images),  # REQS name no variant
        ("512x512-inside-q82.jpg", 3, 2, 3),
        ("original", 2, 2, 2),
    ]
    assert body["rows"][1]["last_requested_at"] == (later + 4 * STEP).isoformat().replace(
        "+00:00", "Z"
    )
    more = api.client.get("/stats/requests", params={"by": "variant", "top": 4}).json()
    assert more["rows"][3]["variant"] == "256"
    one = api.client.get("/stats/requests", params={"by": "variant", "image_id": "image-1"})
    assert [(r["variant"], r["requests"]) for r in one.json()["rows"]] == [
        ("unknown", len([r for r in REQS if r.image == "image-1"])),
        ("512x512-inside-q82.jpg", 1),
        ("original", 1),
    ]


def test_a_user_key_sees_the_variants_of_its_own_image_only(tmp_path: Path) -> None:
    with open_api(tmp_path, FakeImageEngine()) as api:  # a user key
        mine = api.upload(png(64, 48)).json()["image_id"]
        _, bob = api.wired.keys.create("bob", role=Role.USER)
        theirs = api.client.post(
            "/images", content=png(64, 48, seed=1), headers={"Authorization": f"Bearer {bob}"}
        ).json()["image_id"]
        at = REQS[0].at
        archive(
            api.wired.container.archive,
            [
                payload("u1", mine, at, variant="original"),
                payload("u2", mine, at + STEP, variant="original"),
                payload("u1", mine, at + 2 * STEP, variant="256x256-inside-q82.webp"),
                payload("u1", theirs, at, variant="original"),
            ],
        )

        def variants(**params: str) -> Any:
            return api.client.get("/stats/requests", params={"by": "variant", **params})

        own = variants(image_id=mine)
        lake_wide = variants()
        other = variants(image_id=theirs)

    assert own.status_code == 200, own.text
    assert [(r["variant"], r["requests"], r["unique_users"]) for r in own.json()["rows"]] == [
        ("original", 2, 2),
        ("256x256-inside-q82.webp", 1, 1),
    ]
    assert lake_wide.status_code == 403
    assert "image_id" in lake_wide.json()["error"]["message"]
    assert other.status_code == 404


def test_summary(api: Api) -> None:
    body = api.client.get("/stats/summary").json()
    one_image = api.client.get("/stats/summary", params={"image_id": "image-4"}).json()

    assert (body["requests"], body["images"], body["users"]) == (
        len(REQS),
        len(image_counts(REQS)),
        len(user_counts(REQS)),
    )
    assert body["first_request_at"] == REQS[0].at.isoformat().replace("+00:00", "Z")
    assert body["last_request_at"] == REQS[-1].at.isoformat().replace("+00:00", "Z")
    assert one_image["requests"] == len([r for r in REQS if r.image == "image-4"])
    assert one_image["images"] == 1


def test_an_api_key_is_required(api: Api) -> None:
    for path in ("/stats/requests", "/stats/summary"):
        reply = api.client.get(path, headers={"Authorization": ""})
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"by": "week"}, 422),
        ({"by": "variant", "top": 0}, 422),
        ({"since": "yesterday"}, 422),
        ({"until": "2021-02-30"}, 422),
        ({"top": 0}, 422),
        ({"top": 1001}, 422),
        ({"since": "2021-07-12", "until": "2021-07-11"}, 400),
    ],
)
def test_bad_parameters_get_a_json_error(
    api: Api, params: dict[str, str | int], status: int
) -> None:
    reply = api.client.get("/stats/requests", params=params)

    assert reply.status_code == status
    error = reply.json()["error"]
    assert error["code"] == "invalid_input" and error["message"]
