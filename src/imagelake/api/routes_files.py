"""The embedded store's signed URLs: /files/{key}?expires=UNIX&signature=HEX."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from imagelake.api.deps import ServicesDep
from imagelake.domain.errors import Forbidden, InvalidInput

router = APIRouter(tags=["files"])


@router.get("/files/{key:path}")
def signed_file(
    key: str, request: Request, services: ServicesDep, expires: str = "", signature: str = ""
) -> Response:
    """Serve one stored blob if the link's signature is valid and not expired."""
    if "\\" in key or "\x00" in key or key.startswith("/") or ".." in key.split("/"):
        raise InvalidInput("invalid file key")
    if not expires.isdigit() or not signature:
        raise Forbidden("missing or malformed expires/signature")
    now = time.time()
    c = services.container
    c.signer.verify(key, int(expires), signature, now)
    store = c.thumbnails if key.startswith("thumbnails/") else c.blobs
    meta = store.head(key)
    cache = f"private, max-age={max(0, int(expires) - int(now))}"
    headers = {"ETag": meta.etag, "Cache-Control": cache}
    if _matches(request.headers.get("if-none-match", ""), meta.etag):
        return Response(status_code=304, headers=headers)
    return Response(store.get(key), media_type=meta.content_type, headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match compares weakly and may list several tags, or be `*`."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
