"""Request analytics over the event lake: grouped counts and a summary."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from imagelake.api.deps import CallerDep, ServicesDep
from imagelake.api.schemas import ErrorOut
from imagelake.bootstrap import Lake, lake
from imagelake.lake.analytics import MAX_TOP, Filters, GroupBy, report_payload

router = APIRouter(prefix="/stats", tags=["stats"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 422, 503)
}
SinceQuery = Annotated[date | None, Query(description="First day (UTC), inclusive")]
UntilQuery = Annotated[date | None, Query(description="Last day (UTC), inclusive")]
ImageQuery = Annotated[str | None, Query(description="Only requests of this image")]


class DayOut(BaseModel):
    day: date
    requests: int
    unique_users: int
    unique_images: int


class ImageRankOut(BaseModel):
    image_id: str
    requests: int
    unique_users: int
    last_requested_at: datetime


class UserRankOut(BaseModel):
    user_id: str
    requests: int
    unique_images: int
    last_requested_at: datetime


class RequestsOut(BaseModel):
    by: GroupBy
    since: date | None
    until: date | None
    image_id: str | None
    top: int | None
    rows: list[DayOut] | list[ImageRankOut] | list[UserRankOut]


class SummaryOut(BaseModel):
    since: date | None
    until: date | None
    image_id: str | None
    requests: int
    images: int
    users: int
    first_request_at: datetime | None
    last_request_at: datetime | None


def _lake(request: Request, services: ServicesDep) -> Lake:
    state = request.app.state
    if getattr(state, "lake", None) is None:  # built on first use: it loads DuckDB
        state.lake = lake(services.container)
    built: Lake = state.lake
    return built


@router.get("/requests", response_model=RequestsOut, responses=ERRORS)
def stats_requests(
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    by: GroupBy = GroupBy.day,
    since: SinceQuery = None,
    until: UntilQuery = None,
    top: Annotated[int, Query(ge=1, le=MAX_TOP, description="Rows for by=image|user")] = 10,
    image_id: ImageQuery = None,
) -> dict[str, Any]:
    """Requests per day, or the top images (with unique users) or top users."""
    filters = Filters(since, until, image_id)
    rows = _lake(request, services).analytics.requests(by, filters, top)
    return report_payload(by, filters, top, rows)


@router.get("/summary", response_model=SummaryOut, responses=ERRORS)
def stats_summary(
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    since: SinceQuery = None,
    until: UntilQuery = None,
    image_id: ImageQuery = None,
) -> SummaryOut:
    """Total requests, distinct images and users, first and last request."""
    filters = Filters(since, until, image_id)
    s = _lake(request, services).analytics.summary(filters)
    return SummaryOut(
        since=since,
        until=until,
        image_id=image_id,
        requests=s.requests,
        images=s.images,
        users=s.users,
        first_request_at=s.first_request_at,
        last_request_at=s.last_request_at,
    )
