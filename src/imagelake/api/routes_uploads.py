"""Direct uploads: a presigned form to post the bytes straight to S3, and its outcome."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from imagelake.api.deps import ServicesDep, UploaderDep
from imagelake.api.schemas import ErrorOut, ImageOut, UploadIn, UploadStatusOut, UploadTicketOut

router = APIRouter(tags=["uploads"])


@router.post(
    "/images/uploads",
    status_code=201,
    response_model=UploadTicketOut,
    responses={400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
async def start_upload(
    services: ServicesDep, caller: UploaderDep, body: UploadIn | None = None
) -> UploadTicketOut:
    """A presigned S3 form for one upload of up to IMAGELAKE_MAX_UPLOAD_BYTES; 409 when the
    originals are not on S3 (then POST the bytes to /images)."""
    content_type = body.content_type if body else None
    ticket = await run_in_threadpool(services.uploads.start, caller.user_id, content_type)
    return UploadTicketOut(
        upload_id=ticket.upload_id,
        key=ticket.key,
        url=ticket.url,
        fields=ticket.fields,
        max_bytes=ticket.max_bytes,
        expires_at=ticket.expires_at,
        status_url=f"/images/uploads/{ticket.upload_id}",
        complete_url=f"/images/uploads/{ticket.upload_id}/complete",
    )


@router.get(
    "/images/uploads/{upload_id}",
    response_model=UploadStatusOut,
    responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}},
)
def upload_status(upload_id: str, services: ServicesDep, caller: UploaderDep) -> UploadStatusOut:
    """Whether a direct upload became an image yet, and which."""
    return UploadStatusOut.of(services.uploads.status_of(upload_id, caller.user_id))


@router.post(
    "/images/uploads/{upload_id}/complete",
    status_code=201,
    response_model=ImageOut,
    responses={
        200: {"model": ImageOut, "description": "Duplicate of an earlier upload"},
        **{code: {"model": ErrorOut} for code in (401, 403, 404, 409, 422)},
    },
)
async def complete_upload(
    upload_id: str, services: ServicesDep, caller: UploaderDep
) -> JSONResponse:
    """Finish a direct upload now and answer as POST /images does, where no S3 event does it
    (`imagelake serve` on S3). Safe to repeat, and after an event finished it: same answer.
    409 while nothing was uploaded; 422 with the reason when the bytes made no image."""
    ticket = await run_in_threadpool(services.uploads.complete, upload_id, caller.user_id)
    image = await run_in_threadpool(services.images.get, str(ticket.image_id), caller)
    urls = services.images.urls(image, services.images.ttl(None), caller.user_id)
    out = ImageOut.of(image, urls, ticket.duplicate)
    return JSONResponse(out.model_dump(mode="json"), status_code=200 if ticket.duplicate else 201)
