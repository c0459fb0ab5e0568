"""The FastAPI application over a set of wired services."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from imagelake import __version__
from imagelake.api import (
    errors,
    routes_dashboard,
    routes_delivery,
    routes_events,
    routes_files,
    routes_images,
    routes_keys,
    routes_stats,
    routes_system,
    routes_uploads,
)
from imagelake.api.fast_delivery import FastDelivery
from imagelake.api.limits import BodyLimitMiddleware
from imagelake.api.rate_limits import RateLimits
from imagelake.api.security_headers import SecurityHeadersMiddleware
from imagelake.bootstrap import Services


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="imagelake",
        version=__version__,
        description="Images in, thumbnails and signed URLs out; every request counted.",
    )
    app.state.services = services
    app.state.rate_limits = RateLimits(services.settings.rate_limit)
    errors.install(app)
    app.include_router(routes_uploads.router)  # before /images/{image_id}
    app.include_router(routes_images.router)
    app.include_router(routes_events.router)
    app.include_router(routes_files.router)
    app.include_router(routes_delivery.router)
    app.include_router(routes_system.router)
    app.include_router(routes_stats.router)
    app.include_router(routes_keys.router)
    routes_dashboard.install(app)
    settings = services.settings
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_upload_bytes, timeout=settings.body_timeout
    )
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def serving_app(services: Services) -> ASGIApp:
    """The app as a server runs it: delivery's hot path first, in front of all of FastAPI's
    machinery (its own middleware included), then the API."""
    return FastDelivery(create_app(services), services)
