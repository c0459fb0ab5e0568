"""Process-level entrypoints: the server, the workers, a one-shot set of services."""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from rich.console import Console

from imagelake.bootstrap import Container, Services, build, services
from imagelake.config import Settings
from imagelake.domain.access import Role
from imagelake.domain.errors import ConfigError
from imagelake.runtime.gc_tuning import tune_for_throughput
from imagelake.runtime.observability import init_sentry, setup_logging
from imagelake.runtime.workers import Periodic, WorkerPool

log = logging.getLogger(__name__)


@contextmanager
def open_services(
    settings: Settings,
    on_send: Callable[[], None] | None = None,
    engine_threads: int | None = None,
) -> Iterator[Services]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    container = build(settings, on_send, engine_threads)
    try:
        yield services(container)
    finally:
        container.close()


def _banner(settings: Settings, token: str | None) -> None:
    out = Console(highlight=False)
    base = settings.base_url
    out.print(
        f"\n[bold green]imagelake[/] is running on [bold]{base}[/] "
        f"(API docs: {base}/docs, dashboard: {base}/)"
    )
    auth = ""
    if settings.auth == "on":
        if token:
            out.print(
                "First start: an API key was created for user [bold]admin[/]. "
                "It is shown only once:"
            )
            out.print(f"  [bold yellow]{token}[/]")
            auth = f'-H "Authorization: Bearer {token}" '
        else:
            out.print("Use an API key (`imagelake keys create --user NAME` makes one).")
            auth = '-H "Authorization: Bearer $IMAGELAKE_API_KEY" '
    out.print("Upload a photo:")
    out.print(
        f"  curl {auth}-H 'Content-Type: image/jpeg' --data-binary @photo.jpg {base}/images",
        soft_wrap=True,
    )
    out.print("Then fetch it: curl " + auth + f"{base}/images/IMAGE_ID", soft_wrap=True)
    out.print(
        "A counted link to any size and format (no key needed to fetch it): curl -i "
        + auth
        + f"'{base}/images/IMAGE_ID/download?w=300&h=200&fit=cover&format=webp'\n",
        soft_wrap=True,
    )


def auth_off_warning(settings: Settings) -> str | None:
    """What to warn of at start when API keys are off; ConfigError if that would open the
    API beyond this machine without IMAGELAKE_ALLOW_INSECURE."""
    if settings.auth == "on":
        return None
    where = f"on {settings.host}"
    if not _is_loopback(settings.host):
        if not settings.allow_insecure:
            raise ConfigError(
                f"IMAGELAKE_AUTH=off {where} would let anyone who can reach it do anything; "
                "listen on 127.0.0.1, or set IMAGELAKE_ALLOW_INSECURE=1 if you mean it"
            )
        where += ", reachable from other machines"
    return f"IMAGELAKE_AUTH=off {where}: no API key is asked for, every caller is an admin"


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


API_RENDER_THREADS = 1


def run_server(settings: Settings) -> None:
    import uvicorn

    from imagelake.api.app import serving_app
    from imagelake.runtime.http_protocol import HeadLimits, guarded_protocol

    warning = auth_off_warning(settings)
    setup_logging()
    if warning:
        log.warning(warning)
    init_sentry(settings, "api")
    pool = WorkerPool(settings, settings.workers)
    # The API renders variants side by side on its thread pool: libvips threads on top of
    # that contend for the same cores (one thread each: ~9% more cold renders/s measured,
    # bench/README.md). Process-wide, so the worker processes keep their own setting.
    with open_services(settings, on_send=pool.wake, engine_threads=API_RENDER_THREADS) as wired:
        token = None
        if settings.auth == "on" and not wired.keys.has_keys():
            _, token = wired.keys.create("admin", role=Role.ADMIN)
        wired.thumbnails.recover()
        pool.start()
        compaction = lake_compaction(wired.container)
        compaction.start()
        eviction = variant_eviction(wired)
        eviction.start()
        _banner(settings, token)
        app = serving_app(wired)
        tune_for_throughput()
        try:
            uvicorn.run(
                app,
                host=settings.host,
                port=settings.port,
                http=guarded_protocol(
                    HeadLimits(settings.max_header_bytes, settings.header_timeout)
                ),
                log_level="warning",
                timeout_graceful_shutdown=5,
            )
        finally:
            eviction.stop()
            compaction.stop()
            pool.stop()


def lake_compaction(container: Container) -> Periodic:
    """Compaction of the lake's closed hours, every lake_compact_interval seconds."""
    from imagelake.bootstrap import lake

    compactor = lake(container, threads=1).compactor  # one core: the API and workers come first
    interval = container.settings.lake_compact_interval
    return Periodic(compactor.compact, interval, "imagelake-lake-compaction")


def variant_eviction(wired: Services) -> Periodic:
    """The variant cache kept under IMAGELAKE_VARIANT_CACHE_BYTES, every evict interval."""
    interval = wired.settings.variant_evict_interval
    return Periodic(wired.variant_cache.evict, interval, "imagelake-variant-eviction")


def run_workers(settings: Settings) -> None:
    setup_logging()
    pool = WorkerPool(settings, max(1, settings.workers))
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    pool.start()
    container = build(settings)
    compaction = lake_compaction(container)
    compaction.start()
    eviction = variant_eviction(services(container))
    eviction.start()
    done.wait()
    eviction.stop()
    compaction.stop()
    container.close()
    pool.stop()
