"""Request dependencies: the wired services and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from imagelake.api.session import session_authorization
from imagelake.bootstrap import Services
from imagelake.domain.images import ApiKey, utcnow


async def get_services(request: Request) -> Services:
    # async, though it awaits nothing: FastAPI runs a plain def dependency on the thread
    # pool, a hop that costs every request CPU just to read one attribute.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

ANONYMOUS = ApiKey(key_id="-", key_hash="-", user_id="anonymous", created_at=utcnow())


async def current_key(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> ApiKey:
    if services.settings.auth == "off":
        return ANONYMOUS
    if authorization is None:  # the dashboard's session cookie, under its CSRF rules
        authorization = session_authorization(request)
    return await run_in_threadpool(services.keys.authenticate, authorization)


CallerDep = Annotated[ApiKey, Depends(current_key)]
