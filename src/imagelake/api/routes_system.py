"""Health and metrics: no API key needed."""

from __future__ import annotations

from fastapi import APIRouter, Response

from imagelake import metrics
from imagelake.api.deps import ServicesDep

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(services: ServicesDep) -> dict[str, object]:
    c = services.container
    return {"status": "ok", "queues": {"thumbnails": c.jobs.depth(), "events": c.events.depth()}}


@router.get("/metrics")
def prometheus(services: ServicesDep) -> Response:
    c = services.container
    body = metrics.render(lambda: {"thumbnails": c.jobs.depth(), "events": c.events.depth()})
    return Response(body, media_type=metrics.CONTENT_TYPE)
