"""The embedded store's signed URLs: /files/{key}?expires=UNIX&signature=HEX."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from imagelake.api.deps import ServicesDep
from imagelake.api.routes_delivery import etag_matches

router = APIRouter(tags=["files"])


@router.get("/files/{key:path}")
@router.head("/files/{key:path}", include_in_schema=False)
def signed_file(
    key: str, request: Request, services: ServicesDep, expires: str = "", signature: str = ""
) -> Response:
    """Serve one stored blob if the link's signature is valid and not expired.

    A blob in a local directory is streamed from its file, with HEAD, Range and If-Range
    (Starlette's FileResponse); other stores' blobs are sent whole.
    """
    blob = services.files.open(key, expires, signature)
    cache = f"private, max-age={blob.seconds_left}"
    headers = {"ETag": blob.meta.etag, "Cache-Control": cache}
    if etag_matches(request.headers.get("if-none-match", ""), blob.meta.etag):
        return Response(status_code=304, headers=headers)
    path = blob.local_path()
    if path is not None:
        return FileResponse(path, media_type=blob.meta.content_type, headers=headers)
    return Response(blob.read(), media_type=blob.meta.content_type, headers=headers)
