"""API keys: who may call what."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from imagelake.config import Settings
from tests.unit.api_harness import MEMORY, Api, open_api
from tests.unit.fakes import FakeImageEngine, png

PHOTO = png(64, 48)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_api(tmp_path, FakeImageEngine()) as api:
        yield api


PROTECTED = [
    ("POST", "/images"),
    ("GET", "/images"),
    ("GET", "/images/b9f08c7f-089e-4cbf-ba78-a89a6e586e86"),
    ("DELETE", "/images/b9f08c7f-089e-4cbf-ba78-a89a6e586e86"),
    ("GET", "/images/b9f08c7f-089e-4cbf-ba78-a89a6e586e86/download"),
    ("POST", "/upload_image"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer il_wrong", "Bearer ", "Basic dXNlcjpwYXNz", "il_no_scheme"],
)
def test_missing_or_wrong_keys_are_401_json(
    api: Api, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Content-Type": "image/jpeg"}
    if authorization is not None:
        headers["Authorization"] = authorization
    api.client.headers.pop("Authorization")

    reply = api.client.request(method, path, headers=headers, content=PHOTO)

    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    assert reply.json()["error"]["code"] == "unauthorized"
    assert reply.json()["error"]["message"]


def test_nothing_is_stored_for_an_unauthenticated_upload(api: Api) -> None:
    api.client.post("/images", content=PHOTO, headers={"Authorization": "Bearer nope"})

    assert api.wired.container.catalog.list_images(10, None)[0] == []
    assert api.wired.container.jobs.depth() == 0


def test_a_revoked_key_is_401(api: Api) -> None:
    key, token = api.wired.keys.create("leaver")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/images", headers=headers).status_code == 200

    api.wired.keys.revoke(key.key_id)

    reply = api.client.get("/images", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"]["message"] == "invalid or revoked API key"
    assert api.client.get("/images").status_code == 200  # other keys are untouched


def test_keys_are_stored_hashed(api: Api) -> None:
    stored = api.wired.keys.list()

    assert [key.user_id for key in stored] == ["tester"]
    assert api.token not in repr(stored)


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_health_and_metrics_need_no_key(api: Api, path: str) -> None:
    api.client.headers.pop("Authorization")

    assert api.client.get(path).status_code == 200


def test_uploads_record_the_caller_as_owner(api: Api) -> None:
    image_id = api.upload(PHOTO).json()["image_id"]

    assert api.wired.container.catalog.get_image(image_id).owner == "tester"


def test_auth_off_lets_anyone_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGELAKE_AUTH", "off")
    assert Settings(**MEMORY).auth == "off"

    with open_api(tmp_path, FakeImageEngine()) as api:
        api.client.headers.pop("Authorization")
        created = api.upload(PHOTO)
        listed = api.client.get("/images")

    assert created.status_code == 201
    assert listed.status_code == 200
    assert [i["image_id"] for i in listed.json()["images"]] == [created.json()["image_id"]]
