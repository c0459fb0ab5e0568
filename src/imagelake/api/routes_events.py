"""The observer over HTTP: push events, read an image's request stats."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from imagelake.api.deps import EventPosterDep, ServicesDep, StatsReaderDep
from imagelake.api.schemas import Accepted, ErrorOut, StatsOut
from imagelake.domain.access import as_user

router = APIRouter(tags=["events"])


@router.post(
    "/events",
    status_code=202,
    response_model=Accepted,
    responses={400: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
        }
    },
)
async def post_events(request: Request, services: ServicesDep, caller: EventPosterDep) -> Accepted:
    """One event or a JSON array of up to 1,000; all valid or nothing queued."""
    body = await request.body()
    return Accepted(accepted=await run_in_threadpool(services.intake.accept, body, as_user(caller)))


@router.get(
    "/images/{image_id}/stats", response_model=StatsOut, responses={404: {"model": ErrorOut}}
)
def image_stats(image_id: str, services: ServicesDep, caller: StatsReaderDep) -> StatsOut:
    """How often an image was requested, by how many users, and by whom last."""
    stats = services.images.stats(image_id, caller)
    return StatsOut(**stats.__dict__)
