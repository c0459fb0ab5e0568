"""Delivery links: /d/{image_id}?{variant}&u=USER&e=EXPIRES&s=SIGNATURE, no API key needed.

Every GET is counted, as an IMAGE_REQUESTED event for the link's user naming the variant,
before a byte is sent; HEAD and Range requests are answered and not counted. The bytes come
from the render-once cache (services/delivery.py), or, where the store is remote (S3), from a
short-lived URL of the store itself that the route redirects to.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from imagelake import metrics
from imagelake.api.deps import ServicesDep, single_params
from imagelake.bootstrap import Services
from imagelake.services.delivery import INLINE_BYTES, Delivery

router = APIRouter(tags=["delivery"])


@router.get("/d/{image_id}")
@router.head("/d/{image_id}", include_in_schema=False)
async def deliver(image_id: str, request: Request, services: ServicesDep) -> Response:
    """One image as a delivery link names it; counted for the link's user on every GET."""
    params = single_params(request)
    accept = request.headers.get("accept", "")
    delivery = await run_in_threadpool(services.delivery.open, image_id, params, accept)
    return await answer(request, services, delivery)


@router.get("/thumbor/{path:path}")
@router.head("/thumbor/{path:path}", include_in_schema=False)
async def deliver_thumbor(path: str, request: Request, services: ServicesDep) -> Response:
    """thumbor's URL grammar, signed as libthumbor signs with IMAGELAKE_THUMBOR_SECURITY_KEY:
    `/thumbor/{signature}/[fit-in/]{W}x{H}/[smart/][filters:format(webp):quality(80)/]{id}`.
    Counted for IMAGELAKE_THUMBOR_USER."""
    settings = services.settings
    key = settings.thumbor_security_key.encode()
    raw = request.scope["path"].removeprefix("/thumbor")
    accept = request.headers.get("accept", "")
    delivery = await run_in_threadpool(
        services.delivery.open_thumbor, raw, accept, key, settings.thumbor_user
    )
    return await answer(request, services, delivery)


async def answer(request: Request, services: Services, delivery: Delivery) -> Response:
    """Count the fetch, then send the bytes (or redirect to them) with the caching headers."""
    counted = request.method == "GET" and "range" not in request.headers
    metrics.DELIVERIES.labels("counted" if counted else request.method.lower()).inc()
    if counted:
        await services.requests.record_async(delivery.user_id, delivery.image_id, delivery.name)
    headers = delivery.caching_headers
    policy = services.delivery.policy
    if policy.redirect:
        url = delivery.redirect_url(policy.redirect_ttl)
        return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    if etag_matches(request.headers.get("if-none-match", ""), delivery.meta.etag):
        return Response(status_code=304, headers=headers)
    path, media_type = delivery.path, delivery.meta.content_type
    if path is not None and (not counted or delivery.meta.size > INLINE_BYTES):
        return FileResponse(path, media_type=media_type, headers=headers, stat_result=None)
    if path is not None:  # small and whole: one read from the page cache beats four threads
        try:
            return Response(path.read_bytes(), media_type=media_type, headers=headers)
        except FileNotFoundError:  # evicted this instant
            pass
    data = await run_in_threadpool(delivery.store.get, delivery.meta.key)
    return Response(data, media_type=media_type, headers=headers)


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match compares weakly and may list several tags, or be `*`."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags
