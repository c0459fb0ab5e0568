"""Owners and roles over the HTTP API: who may see, change and count what."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagelake.domain.access import Role
from tests.unit.api_harness import Api, open_api
from tests.unit.fakes import FakeImageEngine, png

SEED_IMAGE = "b9f08c7f-089e-4cbf-ba78-a89a6e586e86"  # an id imagelake never stored


class Keys:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.tokens = {
            name: api.wired.keys.create(name, role=role)[1]
            for name, role in [
                ("alice", Role.USER),
                ("bob", Role.USER),
                ("upstream", Role.PRODUCER),
                ("analyst", Role.ANALYST),
                ("root", Role.ADMIN),
            ]
        }

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> Any:
        return self.api.client.request(method, path, headers=self.h(who), **kwargs)

    def upload(self, who: str, data: bytes) -> Any:
        return self.call(who, "POST", "/images", content=data)


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[Keys]:
    with open_api(tmp_path, FakeImageEngine()) as api:
        yield Keys(api)


def event(user_id: str, image_id: str = SEED_IMAGE) -> dict[str, str]:
    return {
        "event_name": "IMAGE_REQUESTED",
        "user_id": user_id,
        "image_id": image_id,
        "timestamp": "2021-07-11T09:17:13+00:00",
    }


def test_a_user_sees_lists_downloads_and_deletes_only_its_own_images(keys: Keys) -> None:
    mine = keys.upload("alice", png(64, 48)).json()["image_id"]
    theirs = keys.upload("bob", png(64, 48, seed=1)).json()["image_id"]

    listed = keys.call("alice", "GET", "/images").json()["images"]
    assert [i["image_id"] for i in listed] == [mine]
    for method, path in [
        ("GET", f"/images/{theirs}"),
        ("GET", f"/images/{theirs}/download"),
        ("GET", f"/images/{theirs}/stats"),
        ("GET", f"/stats/requests?image_id={theirs}"),
        ("DELETE", f"/images/{theirs}"),
    ]:
        reply = keys.call("alice", method, path, follow_redirects=False)
        assert reply.status_code == 404, (method, path, reply.text)  # never 403: no such image
        assert reply.json()["error"]["message"] == f"no image {theirs}"
    assert keys.call("bob", "GET", f"/images/{theirs}").status_code == 200  # still there
    assert keys.call("alice", "DELETE", f"/images/{mine}").status_code == 204


def test_the_same_bytes_from_two_owners_are_two_images(keys: Keys) -> None:
    photo = png(64, 48)
    first = keys.upload("alice", photo)
    second = keys.upload("bob", photo)
    again = keys.upload("bob", photo)

    assert (first.status_code, second.status_code, again.status_code) == (201, 201, 200)
    assert second.json()["image_id"] != first.json()["image_id"]
    assert again.json()["image_id"] == second.json()["image_id"]
    assert second.json()["duplicate"] is False

    keys.call("alice", "DELETE", f"/images/{first.json()['image_id']}")
    keys.api.drain()
    bob = keys.call("bob", "GET", f"/images/{second.json()['image_id']}").json()
    assert bob["status"] == "ready"
    assert keys.api.client.get(bob["original_url"]).content == photo


def test_an_admin_sees_and_deletes_everyones_images(keys: Keys) -> None:
    theirs = keys.upload("bob", png(64, 48)).json()["image_id"]

    assert [i["image_id"] for i in keys.call("root", "GET", "/images").json()["images"]] == [theirs]
    assert keys.call("root", "GET", f"/images/{theirs}").status_code == 200
    assert keys.call("root", "DELETE", f"/images/{theirs}").status_code == 204
    assert keys.call("bob", "GET", f"/images/{theirs}").status_code == 404


def test_a_user_posts_events_only_as_itself(keys: Keys) -> None:
    depth = keys.api.wired.container.events.depth()
    own = keys.call("alice", "POST", "/events", json=event("alice"))
    forged = keys.call("alice", "POST", "/events", json=[event("alice"), event("bob")])

    assert own.status_code == 202
    assert forged.status_code == 403
    assert "item 1" in forged.json()["error"]["message"]
    assert "alice" in forged.json()["error"]["message"]
    assert keys.api.wired.container.events.depth() == depth + 1  # nothing of the forged batch


def test_a_producer_posts_for_anyone_and_any_id_but_nothing_else(keys: Keys) -> None:
    reply = keys.call("upstream", "POST", "/events", json=[event("42"), event("7")])
    assert reply.status_code == 202

    for method, path in [
        ("GET", "/images"),
        ("POST", "/images"),
        ("GET", "/stats/summary"),
        ("GET", f"/images/{SEED_IMAGE}/stats"),
        ("GET", "/keys"),
    ]:
        refused = keys.call("upstream", method, path, content=b"x")
        assert refused.status_code == 403, (method, path)
        assert "producer" in refused.json()["error"]["message"]


def test_an_analyst_reads_every_stat_and_nothing_else(keys: Keys) -> None:
    keys.call("upstream", "POST", "/events", json=event("42"))
    keys.api.wired.monitor.run_once()

    stats = keys.call("analyst", "GET", f"/images/{SEED_IMAGE}/stats")
    assert stats.status_code == 200
    assert stats.json()["request_count"] == 1
    assert keys.call("analyst", "GET", "/stats/summary").status_code == 200
    for method, path in [("GET", "/images"), ("POST", "/images"), ("POST", "/events")]:
        reply = keys.call("analyst", method, path, content=json.dumps(event("42")))
        assert reply.status_code == 403, (method, path)


def test_a_user_sees_zero_counts_for_its_unrequested_image_and_no_lake_wide_stats(
    keys: Keys,
) -> None:
    mine = keys.upload("alice", png(64, 48)).json()["image_id"]

    stats = keys.call("alice", "GET", f"/images/{mine}/stats")
    assert stats.status_code == 200
    assert stats.json()["request_count"] == 0
    assert stats.json()["last_user_id"] is None
    assert keys.call("alice", "GET", f"/stats/summary?image_id={mine}").status_code == 200
    lake_wide = keys.call("alice", "GET", "/stats/summary")
    assert lake_wide.status_code == 403
    assert "image_id" in lake_wide.json()["error"]["message"]
    assert keys.call("analyst", "GET", f"/images/{SEED_IMAGE[:-1]}0/stats").status_code == 404


def test_admins_manage_keys_over_http_and_nobody_else_may(keys: Keys) -> None:
    created = keys.call("root", "POST", "/keys", json={"user_id": "carol", "role": "analyst"})
    assert created.status_code == 201
    body = created.json()
    assert (body["user_id"], body["role"]) == ("carol", "analyst")
    carol = {"Authorization": f"Bearer {body['token']}"}
    assert keys.api.client.get("/stats/summary", headers=carol).status_code == 200

    listed = keys.call("root", "GET", "/keys").json()
    assert {k["user_id"]: k["role"] for k in listed}["carol"] == "analyst"
    assert all("token" not in k and "key_hash" not in k for k in listed)

    revoked = keys.call("root", "DELETE", f"/keys/{body['key_id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert keys.api.client.get("/stats/summary", headers=carol).status_code == 401
    assert keys.call("root", "DELETE", "/keys/no-such-key").status_code == 404

    for who in ("alice", "upstream", "analyst"):
        assert keys.call(who, "GET", "/keys").status_code == 403
        assert (
            keys.call(who, "POST", "/keys", json={"user_id": "x", "role": "admin"}).status_code
            == 403
        )


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "", "role": "user"},
        {"user_id": "a b", "role": "user"},
        {"user_id": "x", "role": "root"},
    ],
)
def test_a_bad_key_request_is_a_clear_4xx(keys: Keys, body: dict[str, str]) -> None:
    reply = keys.call("root", "POST", "/keys", json=body)

    assert reply.status_code in (400, 422)
    assert reply.json()["error"]["message"]
