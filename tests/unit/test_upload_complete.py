"""Completing a direct upload by hand, where no object-created event arrives (serve on S3)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from imagelake.adapters.memory import MemoryCatalog
from imagelake.api.app import create_app
from imagelake.bootstrap import build, services
from imagelake.config import Settings
from imagelake.domain.errors import Conflict, NotFound, UploadRejected
from imagelake.domain.signing import Signer
from imagelake.services.uploads import DirectUploads
from tests.unit.api_harness import MEMORY, PUBLIC_URL
from tests.unit.fakes import FakeImageEngine, png
from tests.unit.test_direct_uploads import PresigningMemoryStore, direct_uploads


class RacingStore(PresigningMemoryStore):
    """Runs `before_get` once, just before the next read of `key`: an interleaving hook."""

    key = ""
    before_get: Callable[[], object] | None = None

    def get(self, key: str) -> bytes:
        if key == self.key and self.before_get is not None:
            hook, self.before_get = self.before_get, None
            hook()
        return super().get(key)


@pytest.fixture
def store() -> RacingStore:
    return RacingStore(PUBLIC_URL, Signer(b"secret", ()))


@pytest.fixture
def catalog() -> MemoryCatalog:
    return MemoryCatalog()


@pytest.fixture
def uploads(store: RacingStore, catalog: MemoryCatalog) -> DirectUploads:
    return direct_uploads(store, catalog)


def test_completing_ingests_the_upload_once_whoever_finishes_it(
    uploads: DirectUploads, store: RacingStore, catalog: MemoryCatalog
) -> None:
    ticket = uploads.start("alice", "image/png")
    store.put(ticket.key, png(180, 120), "image/png")

    done = uploads.complete(ticket.upload_id, "alice")

    assert done.status == "accepted" and not done.duplicate
    assert catalog.get_image(str(done.image_id)).owner == "alice"
    assert uploads.complete(ticket.upload_id, "alice") == done  # a retried call
    assert uploads.finish(ticket.key) == done  # the event, arriving late
    assert len(catalog.list_images(10, None)[0]) == 1
    with pytest.raises(NotFound):
        store.head(ticket.key)


def test_completing_after_the_event_gives_the_event_s_answer(
    uploads: DirectUploads, store: RacingStore
) -> None:
    ticket = uploads.start("bob")
    store.put(ticket.key, png(180, 120, seed=1), "image/png")
    by_event = uploads.finish(ticket.key)

    assert uploads.complete(ticket.upload_id, "bob") == by_event


def test_an_event_finishing_it_midway_is_no_conflict(
    uploads: DirectUploads, store: RacingStore, catalog: MemoryCatalog
) -> None:
    ticket = uploads.start("carol")
    store.put(ticket.key, png(150, 150, seed=2), "image/png")
    # complete() has read the pending ticket; the event finishes and removes the object.
    store.key, store.before_get = ticket.key, lambda: uploads.finish(ticket.key)

    done = uploads.complete(ticket.upload_id, "carol")

    assert store.before_get is None  # the event did run in between
    assert done == uploads.status(ticket.upload_id)
    assert done.status == "accepted"
    assert len(catalog.list_images(10, None)[0]) == 1


def test_nothing_uploaded_yet_is_a_conflict_that_a_later_call_resolves(
    uploads: DirectUploads, store: RacingStore
) -> None:
    ticket = uploads.start("dave")

    with pytest.raises(Conflict, match="POST the file"):
        uploads.complete(ticket.upload_id, "dave")
    store.put(ticket.key, png(120, 80), "image/png")

    assert uploads.complete(ticket.upload_id, "dave").status == "accepted"


def test_only_the_owner_may_complete_and_a_refusal_consumes_nothing(
    uploads: DirectUploads, store: RacingStore
) -> None:
    ticket = uploads.start("erin")
    store.put(ticket.key, png(120, 80), "image/png")

    with pytest.raises(NotFound):  # as if absent: someone else's upload is not confirmed
        uploads.complete(ticket.upload_id, "mallory")
    with pytest.raises(NotFound):
        uploads.status_of(ticket.upload_id, "mallory")

    assert uploads.status(ticket.upload_id).status == "pending"
    assert uploads.complete(ticket.upload_id, "erin").status == "accepted"


def test_bytes_that_make_no_image_are_refused_with_the_reason_every_time(
    uploads: DirectUploads, store: RacingStore
) -> None:
    ticket = uploads.start("frank")
    store.put(ticket.key, b"plain text, no image", "text/plain")

    with pytest.raises(UploadRejected) as first:
        uploads.complete(ticket.upload_id, "frank")
    with pytest.raises(UploadRejected) as again:
        uploads.complete(ticket.upload_id, "frank")

    assert first.value.code == again.value.code == "unsupported_media_type"
    assert str(first.value) == str(again.value) == uploads.status(ticket.upload_id).error_message


def test_an_unknown_upload_is_not_found(uploads: DirectUploads) -> None:
    with pytest.raises(NotFound):
        uploads.complete("0" * 32, "alice")
    with pytest.raises(NotFound):
        uploads.complete("../keys", "alice")


@dataclass
class DirectApi:
    client: TestClient
    store: PresigningMemoryStore
    tokens: dict[str, str]
    drain: Callable[[], object]

    def post(self, user: str, path: str, **kwargs: Any) -> httpx2.Response:
        auth = {"Authorization": f"Bearer {self.tokens[user]}"}
        return self.client.post(path, headers=auth, **kwargs)

    def upload(self, user: str, data: bytes) -> str:
        """Ask for a form as `user`, put the bytes where the form's POST would; the complete URL."""
        form = self.post(user, "/images/uploads", json={"content_type": "image/png"})
        assert form.status_code == 201, form.text
        self.store.put(form.json()["key"], data, "image/png")
        complete_url: str = form.json()["complete_url"]
        return complete_url


@contextmanager
def direct_api(tmp_path: Path) -> Iterator[DirectApi]:
    """The whole API on in-memory adapters whose originals store offers presigned forms."""
    container = build(Settings(data_dir=tmp_path / "data", **MEMORY))
    store = PresigningMemoryStore(PUBLIC_URL, container.signer)
    container.blobs = store
    container.engine = FakeImageEngine()
    wired = services(container)
    tokens = {user: wired.keys.create(user)[1] for user in ("alice", "mallory")}

    def drain() -> None:
        while wired.thumbnail_jobs.run_once(wait=0):
            pass

    try:
        with TestClient(create_app(wired)) as client:
            yield DirectApi(client, store, tokens, drain)
    finally:
        container.close()


def test_complete_answers_as_post_images_does(tmp_path: Path) -> None:
    photo = png(180, 120, seed=1)
    with direct_api(tmp_path) as api:
        complete_url = api.upload("alice", photo)
        created = api.post("alice", complete_url)
        repeated = api.post("alice", complete_url)
        duplicate = api.post("alice", api.upload("alice", photo))
        api.drain()
        auth = {"Authorization": f"Bearer {api.tokens['alice']}"}
        ready = api.client.get(f"/images/{created.json()['image_id']}", headers=auth).json()
        posted = api.post("alice", "/images", content=photo)

    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["status"], body["bytes"], body["duplicate"]) == ("processing", len(photo), False)
    assert set(body) == set(posted.json())  # the very shape of POST /images
    assert (repeated.status_code, repeated.json()["image_id"]) == (201, body["image_id"])
    assert duplicate.status_code == 200
    assert (duplicate.json()["image_id"], duplicate.json()["duplicate"]) == (body["image_id"], True)
    assert ready["status"] == "ready"


def test_complete_errors_say_why(tmp_path: Path) -> None:
    with direct_api(tmp_path) as api:
        theirs = api.post("mallory", api.upload("alice", png(120, 80)))
        rejected = api.post("alice", api.upload("alice", b"plain text, no image"))
        unknown = api.post("alice", f"/images/uploads/{'0' * 32}/complete")
        early = api.post("alice", "/images/uploads", json={})
        nothing_yet = api.post("alice", early.json()["complete_url"])

    replies = {
        "theirs": (theirs, 404, "not_found"),
        "rejected": (rejected, 422, "unsupported_media_type"),
        "unknown": (unknown, 404, "not_found"),
        "nothing_yet": (nothing_yet, 409, "conflict"),
    }
    for name, (reply, status, code) in replies.items():
        assert reply.status_code == status, (name, reply.text)
        assert reply.json()["error"]["code"] == code, name
    assert "POST the file" in nothing_yet.json()["error"]["message"]
