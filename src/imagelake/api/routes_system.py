"""Health and metrics: no API key needed."""

from __future__ import annotations

from fastapi import APIRouter, Response

from imagelake import metrics
from imagelake.api.deps import ServicesDep

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(services: ServicesDep) -> dict[str, object]:
    return {"status": "ok", "queues": services.operations.depths()}


@router.get("/metrics")
def prometheus(services: ServicesDep) -> Response:
    body = metrics.render(services.operations.depths, services.lake.quarantine.count)
    return Response(body, media_type=metrics.CONTENT_TYPE)
