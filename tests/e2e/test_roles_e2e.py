"""Owners and roles over real HTTP and the CLI: two users, a producer, an analyst, an admin."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.e2e.service import Service
from tests.photos import photo_bytes

SEED = {
    "event_name": "IMAGE_REQUESTED",
    "user_id": "42",
    "image_id": "b9f08c7f-089e-4cbf-ba78-a89a6e586e86",
    "timestamp": "2021-07-11T09:17:13+00:00",
}


def counted(client: httpx.Client, image_id: str, at_least: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = client.get(f"/images/{image_id}/stats")
        body = reply.json()
        if reply.status_code == 200 and body["request_count"] >= at_least:
            return body
        time.sleep(0.1)
    raise AssertionError(f"{image_id} never reached {at_least} requests: {body}")


def test_five_keys_five_views_of_one_service(service: Service) -> None:
    keys = {
        name: service.create_key(name, role=role)
        for name, role in [
            ("alice", "user"),
            ("bob", "user"),
            ("upstream", "producer"),
            ("analyst", "analyst"),
        ]
    }
    listed = service.cli("keys", "list").stdout.decode()
    assert all(role in listed for role in ("producer", "analyst", "admin"))
    photo = photo_bytes(scale=0.25)

    with (
        service.client(keys["alice"]) as alice,
        service.client(keys["bob"]) as bob,
        service.client(keys["upstream"]) as upstream,
        service.client(keys["analyst"]) as analyst,
        service.client() as admin,
    ):
        mine = alice.post("/images", content=photo)
        theirs = bob.post("/images", content=photo)  # the same bytes: bob's own image
        assert (mine.status_code, theirs.status_code) == (201, 201)
        alice_id, bob_id = mine.json()["image_id"], theirs.json()["image_id"]
        assert alice_id != bob_id
        service.wait_for(alice_id)
        service.wait_for(bob_id)

        assert [i["image_id"] for i in alice.get("/images").json()["images"]] == [alice_id]
        assert alice.get(f"/images/{bob_id}").status_code == 404
        assert alice.delete(f"/images/{bob_id}").status_code == 404
        assert bob.get(f"/images/{bob_id}").json()["status"] == "ready"
        assert alice.get(f"/images/{alice_id}/stats").json()["request_count"] == 0

        assert upstream.post("/events", json=SEED).status_code == 202
        assert upstream.get("/images").status_code == 403
        assert alice.post("/events", json=SEED).status_code == 403  # not as user 42
        minted = alice.get(f"/images/{alice_id}/download", follow_redirects=False)
        assert minted.status_code == 302
        assert httpx.get(minted.headers["location"], timeout=30).status_code == 200  # no key

        assert counted(analyst, SEED["image_id"], 1)["last_user_id"] == "42"
        assert counted(alice, alice_id, 1)["last_user_id"] == "alice"
        assert analyst.get(f"/images/{alice_id}").status_code == 403
        assert analyst.get("/stats/summary").status_code == 200

        made = admin.post("/keys", json={"user_id": "carol", "role": "user"})
        assert made.status_code == 201
        with service.client(made.json()["token"]) as carol:
            assert carol.get("/images").json()["images"] == []
            assert admin.delete(f"/keys/{made.json()['key_id']}").status_code == 200
            assert carol.get("/images").status_code == 401
        everyone = {i["image_id"] for i in admin.get("/images").json()["images"]}
        assert everyone == {alice_id, bob_id}
