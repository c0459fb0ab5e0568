"""Direct uploads: the client sends the bytes straight to the originals store (S3 presigned
POST), and the store's object-created event finishes the ingest — or the client does, with
`complete`, where no event arrives (`imagelake serve` on S3). Nothing large ever passes
through the API, which on Lambda cannot carry more than 6 MB.

Each upload has a ticket, `uploads/<id>.json` in the originals store, written before the
client gets its form: it names the owner, and later the outcome (the image, or why not).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from imagelake import metrics
from imagelake.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UploadRejected,
)
from imagelake.domain.images import utcnow
from imagelake.ports import BlobStore, DirectUploadStore
from imagelake.services.ingest import IngestService

log = logging.getLogger(__name__)

INCOMING_PREFIX = "incoming/"
TICKETS_PREFIX = "uploads/"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# The store may sit under a prefix of its bucket: match the end of the full object key.
_INCOMING_KEY = re.compile(r"(?:^|/)incoming/([0-9a-f]{32})$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$")


@dataclass(frozen=True)
class UploadTicket:
    upload_id: str
    key: str
    url: str
    fields: dict[str, str]
    max_bytes: int
    expires_at: datetime


@dataclass(frozen=True)
class UploadStatus:
    upload_id: str
    owner: str
    status: str  # pending | accepted | rejected
    created_at: str
    image_id: str | None = None
    duplicate: bool = False
    error_code: str | None = None
    error_message: str | None = None

    @property
    def final(self) -> bool:
        return self.status != "pending"


def incoming_upload_id(object_key: str) -> str | None:
    """The upload id of a direct-upload object key, None for any other key."""
    match = _INCOMING_KEY.search(object_key)
    return match.group(1) if match else None


class DirectUploads:
    def __init__(
        self, *, blobs: BlobStore, ingest: IngestService, max_bytes: int, ttl: int
    ) -> None:
        self._blobs = blobs
        self._ingest = ingest
        self._max_bytes = max_bytes
        self._ttl = ttl

    def start(self, owner: str, content_type: str | None = None) -> UploadTicket:
        """A form the client posts its bytes to, straight into the originals store."""
        if not isinstance(self._blobs, DirectUploadStore):
            raise Conflict(
                "direct uploads need an S3 originals store (IMAGELAKE_BLOBS=s3://...); "
                "send the bytes to POST /images instead"
            )
        kind = (content_type or DEFAULT_CONTENT_TYPE).strip().lower()
        if not _CONTENT_TYPE.match(kind):
            raise InvalidInput(f"content_type {kind[:64]!r} is not a media type like image/jpeg")
        upload_id = uuid.uuid4().hex
        key = INCOMING_PREFIX + upload_id
        self._save(UploadStatus(upload_id, owner, "pending", utcnow().isoformat()))
        post = self._blobs.presigned_post(key, kind, self._max_bytes, self._ttl)
        return UploadTicket(
            upload_id=upload_id,
            key=key,
            url=str(post["url"]),
            fields={str(k): str(v) for k, v in post["fields"].items()},
            max_bytes=self._max_bytes,
            expires_at=utcnow() + timedelta(seconds=self._ttl),
        )

    def status_of(self, upload_id: str, owner: str) -> UploadStatus:
        """The ticket, if owner made it; NotFound otherwise, as if absent."""
        ticket = self.status(upload_id)
        if ticket.owner != owner:
            raise NotFound(f"no upload {upload_id}")
        return ticket

    def status(self, upload_id: str) -> UploadStatus:
        if not _UPLOAD_ID.match(upload_id):
            raise NotFound(f"no upload {upload_id[:64]!r}")
        try:
            raw: dict[str, Any] = json.loads(self._blobs.get(_ticket_key(upload_id)))
        except NotFound:
            raise NotFound(f"no upload {upload_id}") from None
        return UploadStatus(**raw)

    def finish(self, object_key: str) -> UploadStatus | None:
        """Ingest the object a client uploaded; None if the key is no upload of ours.

        Idempotent: a redelivered event finds the ticket final and only tidies up. A bad
        image is a final answer (the ticket says why); a backend failure raises, to retry.
        """
        upload_id = incoming_upload_id(object_key)
        if upload_id is None:
            return None
        try:
            ticket = self.status(upload_id)
        except NotFound:
            log.warning("%s has no upload ticket: left alone", object_key)
            return None
        finished = self._finish(ticket)
        if finished is None:
            log.warning("upload %s: the object is gone before it was ingested", upload_id)
        return finished

    def complete(self, upload_id: str, owner: str) -> UploadStatus:
        """Ingest the object now, for its owner; the accepted ticket names the image.

        Idempotent: a ticket already final (an event or an earlier call finished it) is the
        answer. Conflict while nothing was uploaded; UploadRejected when the bytes made no image.
        """
        ticket = self.status_of(upload_id, owner)
        finished = self._finish(ticket)
        if finished is None:  # an event may have finished it, and removed the object, meanwhile
            finished = self.status(upload_id)
        if not finished.final:
            raise Conflict(
                f"nothing was uploaded for {upload_id} yet: POST the file to the form's url "
                "before its expires_at, then complete the upload"
            )
        if finished.status == "rejected":
            raise UploadRejected(
                finished.error_code or "invalid_input", finished.error_message or "rejected"
            )
        return finished

    def _finish(self, ticket: UploadStatus) -> UploadStatus | None:
        """The final ticket, ingesting the object first if need be; None if it is not there."""
        incoming = INCOMING_PREFIX + ticket.upload_id
        if not ticket.final:
            try:
                data = self._blobs.get(incoming)
            except NotFound:
                return None
            ticket = self._ingest_one(ticket, data)
            self._save(ticket)
        self._blobs.delete(incoming)
        return ticket

    def _ingest_one(self, ticket: UploadStatus, data: bytes) -> UploadStatus:
        try:
            if len(data) > self._max_bytes:
                raise PayloadTooLarge(
                    f"the upload is larger than the {self._max_bytes:,}-byte limit"
                )
            result = self._ingest.upload(data, ticket.owner)
        except InvalidInput as exc:  # the bytes will never make an image: say why, once
            log.info("upload %s rejected: %s", ticket.upload_id, exc)
            metrics.REJECTED.labels(exc.code).inc()
            return replace(ticket, status="rejected", error_code=exc.code, error_message=str(exc))
        (metrics.DUPLICATES if result.duplicate else metrics.UPLOADS).inc()
        return replace(
            ticket, status="accepted", image_id=result.image.image_id, duplicate=result.duplicate
        )

    def _save(self, ticket: UploadStatus) -> None:
        body = json.dumps(asdict(ticket), separators=(",", ":")).encode()
        self._blobs.put(_ticket_key(ticket.upload_id), body, "application/json")


def _ticket_key(upload_id: str) -> str:
    return f"{TICKETS_PREFIX}{upload_id}.json"
