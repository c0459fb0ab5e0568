"""The one place where errors become HTTP statuses; every error body is the same JSON shape."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from imagelake.api.redact import client_message, error_id, generic_message
from imagelake.api.security_headers import NOSNIFF
from imagelake.domain import errors

log = logging.getLogger(__name__)

STATUS: list[tuple[type[errors.ImagelakeError], int]] = [
    (errors.PayloadTooLarge, 413),
    (errors.RequestTimeout, 408),
    (errors.UnsupportedMediaType, 415),
    (errors.CorruptImage, 422),
    (errors.ImageTooLarge, 422),
    (errors.InvalidEvent, 422),
    (errors.UploadRejected, 422),
    (errors.InvalidInput, 400),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.RateLimited, 429),
    (errors.BackendError, 503),
]


def error_body(
    code: str, message: str, details: list[dict[str, object]] | None = None
) -> dict[str, dict[str, object]]:
    error: dict[str, object] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def status_of(exc: errors.ImagelakeError) -> int:
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 500)


def _headers(exc: errors.ImagelakeError, status: int) -> dict[str, str] | None:
    if isinstance(exc, errors.RateLimited):
        return {"Retry-After": str(exc.retry_after)}
    return {
        401: {"WWW-Authenticate": "Bearer"},
        408: {"Connection": "close"},  # the rest of a slow body is not waited for
    }.get(status)


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.ImagelakeError)
    async def _ours(request: Request, exc: errors.ImagelakeError) -> JSONResponse:
        status = status_of(exc)
        headers = _headers(exc, status)
        some_id = error_id()
        if status >= 500:  # the whole story here; the client gets our words (api/redact.py)
            where = f"{request.method} {request.url.path}"
            log.error("backend failure on %s (error id %s): %s", where, some_id, exc, exc_info=exc)
        body = error_body(exc.code, client_message(exc, status, some_id), exc.details)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg')}")
        return JSONResponse(error_body("invalid_input", "; ".join(parts)), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # Routine on any network, not a fault of ours: no traceback, nothing for Sentry.
        log.info(
            "client disconnected before sending the whole body: %s %s",
            request.method,
            request.url.path,
        )
        return Response(status_code=499)  # nginx's "client closed request"; nobody reads it

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        some_id = error_id()
        where = f"{request.method} {request.url.path}"
        log.exception("unhandled error on %s (error id %s)", where, some_id)
        # Answered outside the middleware stack (by Starlette's ServerErrorMiddleware).
        body = error_body("internal", generic_message(500, some_id))
        return JSONResponse(body, status_code=500, headers=NOSNIFF)
