"""Request analytics over the event lake: grouped counts and a summary."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from imagelake.api.deps import ServicesDep, StatsReaderDep
from imagelake.api.schemas import ErrorOut, RequestsOut, SummaryOut
from imagelake.lake.reports import MAX_TOP, Filters, GroupBy, report_payload

router = APIRouter(prefix="/stats", tags=["stats"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 422, 503)
}
SinceQuery = Annotated[date | None, Query(description="First day (UTC), inclusive")]
UntilQuery = Annotated[date | None, Query(description="Last day (UTC), inclusive")]
ImageQuery = Annotated[str | None, Query(description="Only requests of this image")]


@router.get("/requests", response_model=RequestsOut, responses=ERRORS)
def stats_requests(
    services: ServicesDep,
    caller: StatsReaderDep,
    by: GroupBy = GroupBy.day,
    since: SinceQuery = None,
    until: UntilQuery = None,
    top: Annotated[int, Query(ge=1, le=MAX_TOP, description="Rows for by=image|user|variant")] = 10,
    image_id: ImageQuery = None,
) -> dict[str, Any]:
    """Requests per day, or the top images (with unique users), users or variants."""
    services.images.check_stats_scope(caller, image_id)
    filters = Filters(since, until, image_id)
    rows = services.lake.analytics.requests(by, filters, top)
    return report_payload(by, filters, top, rows)


@router.get("/summary", response_model=SummaryOut, responses=ERRORS)
def stats_summary(
    services: ServicesDep,
    caller: StatsReaderDep,
    since: SinceQuery = None,
    until: UntilQuery = None,
    image_id: ImageQuery = None,
) -> SummaryOut:
    """Total requests, distinct images and users, first and last request."""
    services.images.check_stats_scope(caller, image_id)
    filters = Filters(since, until, image_id)
    s = services.lake.analytics.summary(filters)
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
