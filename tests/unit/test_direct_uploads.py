"""Direct uploads: tickets, finishing from the object-created event, and the routes' errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagelake.adapters.memory import MemoryBlobStore, MemoryCatalog, MemoryQueue
from imagelake.domain.errors import InvalidInput, NotFound
from imagelake.domain.images import ImageStatus
from imagelake.domain.signing import Signer
from imagelake.services.ingest import IngestService
from imagelake.services.uploads import DirectUploads, incoming_upload_id
from tests.unit.api_harness import open_api
from tests.unit.fakes import FakeImageEngine, png

MAX_BYTES = 2_000_000


class PresigningMemoryStore(MemoryBlobStore):
    """The in-memory store plus a presigned form, as S3BlobStore offers one."""

    def presigned_post(
        self, key: str, content_type: str, max_bytes: int, ttl: int
    ) -> dict[str, Any]:
        return {"url": "memory://upload", "fields": {"key": key, "Content-Type": content_type}}


@pytest.fixture
def store() -> PresigningMemoryStore:
    return PresigningMemoryStore("http://imagelake.test", Signer(b"secret", ()))


@pytest.fixture
def catalog() -> MemoryCatalog:
    return MemoryCatalog()


def direct_uploads(store: PresigningMemoryStore, catalog: MemoryCatalog) -> DirectUploads:
    ingest = IngestService(
        blobs=store,
        catalog=catalog,
        jobs=MemoryQueue("jobs"),
        events=MemoryQueue("events"),
        engine=FakeImageEngine(max_pixels=50_000_000),
        max_pixels=10**8,
    )
    return DirectUploads(blobs=store, ingest=ingest, max_bytes=MAX_BYTES, ttl=300)


@pytest.fixture
def uploads(store: PresigningMemoryStore, catalog: MemoryCatalog) -> DirectUploads:
    return direct_uploads(store, catalog)


def test_an_uploaded_object_becomes_an_image_of_the_ticket_owner(
    uploads: DirectUploads, store: PresigningMemoryStore, catalog: MemoryCatalog
) -> None:
    ticket = uploads.start("alice", "image/png")
    photo = png(180, 120)
    store.put(ticket.key, photo, "image/png")  # what the client's POST to S3 does

    status = uploads.finish(f"some/prefix/{ticket.key}")  # the full key, prefix and all

    assert status is not None and status.status == "accepted"
    image = catalog.get_image(str(status.image_id))
    assert (image.owner, image.status, image.bytes) == ("alice", ImageStatus.PROCESSING, len(photo))
    assert uploads.status(ticket.upload_id) == status
    with pytest.raises(NotFound):
        store.head(ticket.key)


def test_a_redelivered_event_changes_nothing(
    uploads: DirectUploads, store: PresigningMemoryStore, catalog: MemoryCatalog
) -> None:
    ticket = uploads.start("bob")
    store.put(ticket.key, png(180, 120, seed=1), "image/png")
    first = uploads.finish(ticket.key)

    again = uploads.finish(ticket.key)

    assert again == first
    images, _ = catalog.list_images(10, None)
    assert len(images) == 1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"plain text, no image", "unsupported_media_type"),
        (b"\xff\xd8\xff" + bytes(MAX_BYTES), "payload_too_large"),  # S3 enforces it; moto not
    ],
)
def test_bytes_that_make_no_image_are_rejected_with_the_reason(
    uploads: DirectUploads, store: PresigningMemoryStore, data: bytes, code: str
) -> None:
    ticket = uploads.start("carol")
    store.put(ticket.key, data, "application/octet-stream")

    status = uploads.finish(ticket.key)

    assert status is not None
    assert (status.status, status.error_code, status.image_id) == ("rejected", code, None)
    assert uploads.status(ticket.upload_id).error_message == status.error_message


def test_objects_that_are_no_ticketed_upload_are_left_alone(
    uploads: DirectUploads, store: PresigningMemoryStore
) -> None:
    stray = "incoming/" + "0" * 32
    store.put(stray, b"dropped by hand", "image/jpeg")

    assert uploads.finish(stray) is None
    assert uploads.finish("originals/elsewhere.jpg") is None
    assert store.get(stray) == b"dropped by hand"


def test_the_upload_id_is_read_from_the_key_only_where_it_belongs() -> None:
    upload_id = "ab" * 16
    assert incoming_upload_id(f"incoming/{upload_id}") == upload_id
    assert incoming_upload_id(f"tenant/incoming/{upload_id}") == upload_id
    assert incoming_upload_id(f"notincoming/{upload_id}") is None
    assert incoming_upload_id(f"incoming/{upload_id}/x") is None


def test_a_form_for_a_bad_media_type_is_refused(uploads: DirectUploads) -> None:
    with pytest.raises(InvalidInput, match="media type"):
        uploads.start("dave", "not a type")


def test_a_local_store_answers_409_and_points_at_post_images(tmp_path: Path) -> None:
    with open_api(tmp_path, FakeImageEngine()) as api:
        reply = api.client.post("/images/uploads", json={"content_type": "image/png"})
        unknown = api.client.get("/images/uploads/" + "0" * 32)
        malformed = api.client.get("/images/uploads/..%2f..%2fkeys")

    assert reply.status_code == 409
    error = reply.json()["error"]
    assert error["code"] == "conflict"
    assert "S3" in error["message"] and "POST /images" in error["message"]
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert malformed.status_code == 404
