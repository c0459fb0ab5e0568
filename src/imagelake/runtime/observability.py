"""Logging and error reporting set-up shared by every entrypoint."""

from __future__ import annotations

import logging
import os
import sys

from imagelake.config import Settings


def setup_logging() -> None:
    level = os.environ.get("IMAGELAKE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # libvips reports each step of every operation at INFO, dozens of lines per thumbnail
        # job, and formatting them costs a worker real CPU per image. Its warnings still show.
        logging.getLogger("pyvips").setLevel(logging.WARNING)


def init_sentry(settings: Settings, component: str) -> bool:
    """Report unhandled errors (and ERROR log records) to Sentry when a DSN is configured."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(dsn=settings.sentry_dsn, server_name=component, traces_sample_rate=0.0)
    sentry_sdk.set_tag("component", component)
    return True


def flush_sentry(timeout: float = 5.0) -> None:
    """Send queued reports now: worker processes end without running atexit hooks."""
    if "sentry_sdk" not in sys.modules:
        return
    import sentry_sdk

    if sentry_sdk.is_initialized():
        sentry_sdk.flush(timeout)
