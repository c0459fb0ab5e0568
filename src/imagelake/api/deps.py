"""Request dependencies: the wired services and the caller's identity."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from imagelake.api.rate_limits import client_address, rate_limits
from imagelake.api.session import session_token
from imagelake.bootstrap import Services
from imagelake.domain.access import Action, Role, require
from imagelake.domain.delivery import unique_params
from imagelake.domain.images import ApiKey, utcnow


async def get_services(request: Request) -> Services:
    # async, though it awaits nothing: FastAPI runs a plain def dependency on the thread
    # pool, a hop that costs every request CPU just to read one attribute.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

# IMAGELAKE_AUTH=off is for one person on loopback: that person may do everything.
ANONYMOUS = ApiKey(
    key_id="-", key_hash="-", user_id="anonymous", created_at=utcnow(), role=str(Role.ADMIN)
)


async def current_key(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> ApiKey:
    limits, address = rate_limits(request), client_address(request)
    if services.settings.auth == "off":
        limits.count_request(f"anonymous@{address}")
        return ANONYMOUS
    with limits.authenticating(address):
        key = await _authenticate(request, services, authorization)
    limits.count_request(key.key_id)
    return key


async def _authenticate(request: Request, services: Services, authorization: str | None) -> ApiKey:
    if authorization is None:  # the dashboard's session cookie, under its CSRF rules
        session = session_token(request, services.settings.public_url)
        if session is not None:
            return await run_in_threadpool(services.keys.session_key, session)
    return await run_in_threadpool(services.keys.authenticate, authorization)


CallerDep = Annotated[ApiKey, Depends(current_key)]


def allowed(action: Action) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    """A dependency: the caller, if its role may take action (403 naming both otherwise)."""

    async def check(caller: CallerDep) -> ApiKey:
        require(caller, action)
        return caller

    return check


UploaderDep = Annotated[ApiKey, Depends(allowed(Action.UPLOAD))]
AdminDep = Annotated[ApiKey, Depends(allowed(Action.MANAGE_KEYS))]
EventPosterDep = Annotated[ApiKey, Depends(allowed(Action.POST_EVENTS))]
StatsReaderDep = Annotated[ApiKey, Depends(allowed(Action.READ_STATS))]


def single_params(request: Request, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """The query parameters, each given once: a repeated one is ambiguous, so refused."""
    params = unique_params(request.query_params.multi_items())
    return {name: value for name, value in params.items() if name not in skip}
