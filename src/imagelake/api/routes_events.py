"""The observer over HTTP: push events, read an image's request stats."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from imagelake.api.deps import CallerDep, ServicesDep
from imagelake.api.schemas import ErrorOut

router = APIRouter(tags=["events"])


class Accepted(BaseModel):
    accepted: int


class StatsOut(BaseModel):
    image_id: str
    request_count: int
    unique_users: int
    first_requested_at: datetime
    last_requested_at: datetime
    last_user_id: str


@router.post(
    "/events",
    status_code=202,
    response_model=Accepted,
    responses={400: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
        }
    },
)
async def post_events(request: Request, services: ServicesDep, caller: CallerDep) -> Accepted:
    """One event or a JSON array of up to 1,000; all valid or nothing queued."""
    body = await request.body()
    return Accepted(accepted=await run_in_threadpool(services.intake.accept, body))


@router.get(
    "/images/{image_id}/stats", response_model=StatsOut, responses={404: {"model": ErrorOut}}
)
def image_stats(image_id: str, services: ServicesDep, caller: CallerDep) -> StatsOut:
    """How often an image was requested, by how many users, and by whom last."""
    stats = services.container.catalog.get_stats(image_id)
    return StatsOut(**stats.__dict__)
