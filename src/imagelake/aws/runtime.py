"""What a Lambda container builds once, on its first invocation (never at import time)."""

from __future__ import annotations

import functools

from aws_lambda_powertools import Logger
from mangum import Mangum

from imagelake.bootstrap import Lake, Services, build, services
from imagelake.config import Settings
from imagelake.runtime.observability import init_sentry, setup_logging


@functools.cache
def wired() -> Services:
    """The services over the backends the environment names; kept for the container's life."""
    settings = Settings()
    setup_logging()
    init_sentry(settings, "lambda")
    return services(build(settings))


@functools.cache
def asgi() -> Mangum:
    """The HTTP API as a Lambda handler for API Gateway HTTP API (payload format 2.0)."""
    from imagelake.api.app import create_app

    # lifespan off: the services are built here, not by an ASGI start-up hook.
    return Mangum(create_app(wired()), lifespan="off")


def lake() -> Lake:
    """The event lake's services over the configured archive (DuckDB loads on first query)."""
    return wired().lake


@functools.cache
def logger() -> Logger:
    """JSON lines for CloudWatch, service name from POWERTOOLS_SERVICE_NAME (the template's)."""
    return Logger()
