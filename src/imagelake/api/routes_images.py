"""Image routes: a few lines each — parse, call a service, shape the reply."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from imagelake import metrics
from imagelake.api.deps import CallerDep, ServicesDep, UploaderDep, single_params
from imagelake.api.schemas import ErrorOut, ImageOut, ImagePage, LegacyUploadOut
from imagelake.domain.errors import BackendError, CorruptImage, ImagelakeError, InvalidInput
from imagelake.domain.images import ImageStatus

router = APIRouter(tags=["images"])
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 413, 415, 422)
}
TtlQuery = Annotated[int | None, Query(description="Least lifetime of the links, seconds")]
UserQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=256, description="User the links' fetches count for"),
]
LEGACY_WAIT_SECONDS = 60.0


async def read_upload(request: Request) -> bytes:
    """The image bytes from a raw body or from the multipart field `file`."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        uploads = form.getlist("file")
        if len(uploads) > 1:
            raise InvalidInput(f"multipart upload has {len(uploads)} fields named 'file'; send one")
        upload = uploads[0] if uploads else None
        if not isinstance(upload, UploadFile):
            raise InvalidInput("multipart upload needs a file field named 'file'")
        return await upload.read()
    return await request.body()


async def ingest(services: ServicesDep, request: Request, user_id: str) -> tuple[ImageOut, int]:
    data = await read_upload(request)
    try:
        result = await run_in_threadpool(services.ingest.upload, data, user_id)
    except ImagelakeError as exc:
        metrics.REJECTED.labels(exc.code).inc()
        raise
    (metrics.DUPLICATES if result.duplicate else metrics.UPLOADS).inc()
    urls = services.images.urls(result.image, services.images.ttl(None), user_id)
    return ImageOut.of(result.image, urls, result.duplicate), 200 if result.duplicate else 201


@router.post(
    "/images",
    status_code=201,
    response_model=ImageOut,
    responses={200: {"model": ImageOut, "description": "Duplicate of an earlier upload"}, **ERRORS},
)
async def upload_image(
    request: Request, services: ServicesDep, caller: UploaderDep
) -> JSONResponse:
    """Upload an original: a raw `image/*` body, or multipart with the field `file`."""
    out, status = await ingest(services, request, caller.user_id)
    return JSONResponse(out.model_dump(mode="json"), status_code=status)


@router.get("/images", response_model=ImagePage)
def list_images(
    services: ServicesDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
    ttl: TtlQuery = None,
    user_id: UserQuery = None,
) -> ImagePage:
    """Newest first, one page at a time; pass `next_cursor` back as `cursor`."""
    images, next_cursor = services.images.list(caller, limit, cursor)
    seconds, user = services.images.ttl(ttl), user_id or caller.user_id
    outs = [ImageOut.of(image, services.images.urls(image, seconds, user)) for image in images]
    return ImagePage(images=outs, next_cursor=next_cursor)


@router.get("/images/{image_id}", response_model=ImageOut, responses=ERRORS)
def get_image(
    image_id: str,
    services: ServicesDep,
    caller: CallerDep,
    ttl: TtlQuery = None,
    user_id: UserQuery = None,
) -> ImageOut:
    image = services.images.get(image_id, caller)
    user = user_id or caller.user_id
    return ImageOut.of(image, services.images.urls(image, services.images.ttl(ttl), user))


@router.delete("/images/{image_id}", status_code=204, responses=ERRORS)
def delete_image(image_id: str, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete the record and every blob of the image."""
    services.images.delete(image_id, caller)
    return Response(status_code=204)


@router.get("/images/{image_id}/download", status_code=302, responses=ERRORS)
def download_image(
    image_id: str,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    ttl: TtlQuery = None,
    user_id: UserQuery = None,
) -> RedirectResponse:
    """Redirect to the delivery link of the original or of any variant: `w`, `h`, `fit`,
    `gravity`, `format`, `quality`, `dpr`, `enlarge`, `preset`, `size`. Each fetch of the link
    counts for `user_id` (default: the key's user)."""
    image = services.images.get(image_id, caller)
    params = single_params(request, skip=("ttl", "user_id"))
    variant = services.delivery.variant(params)
    user = user_id or caller.user_id
    url = services.images.download_url(image, variant, services.images.ttl(ttl), user)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.post("/upload_image", response_model=LegacyUploadOut, responses=ERRORS)
async def upload_image_compat(
    request: Request, services: ServicesDep, caller: UploaderDep
) -> LegacyUploadOut:
    """The original thumbnail-generator contract: raw body in, thumbnail URL out, waiting."""
    out, _ = await ingest(services, request, caller.user_id)
    deadline = time.monotonic() + LEGACY_WAIT_SECONDS
    image = await run_in_threadpool(services.images.get, out.image_id, caller)
    while image.status == ImageStatus.PROCESSING and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        image = await run_in_threadpool(services.images.get, out.image_id, caller)
    if image.status == ImageStatus.FAILED:
        raise CorruptImage(f"thumbnail failed: {image.failure_reason}")
    if image.status != ImageStatus.READY:  # workers down or far behind: not the caller's fault
        waited = f"{LEGACY_WAIT_SECONDS:g} s"
        raise BackendError(
            f"thumbnails not ready after {waited}; poll GET /images/{image.image_id}"
        )
    largest = services.delivery.variant({"size": str(max(image.thumbnails))})
    ttl = services.images.ttl(None)
    url = services.images.download_url(image, largest, ttl, caller.user_id)
    return LegacyUploadOut(image_id=image.image_id, thumbnail_url=url)
