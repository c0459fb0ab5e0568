"""The composition root: the only place that names concrete adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from imagelake.config import Settings
from imagelake.domain.errors import ConfigError
from imagelake.domain.signing import Signer
from imagelake.ports import BlobStore, Catalog, ImageEngine, Notifier, Queue
from imagelake.services.archive import EventArchiver
from imagelake.services.images import ImageService
from imagelake.services.ingest import IngestService
from imagelake.services.intake import EventIntake
from imagelake.services.jobs import ThumbnailJobConsumer
from imagelake.services.keys import KeyService
from imagelake.services.monitor import EventConsumer, StatsStore
from imagelake.services.requests import RequestRecorder
from imagelake.services.thumbnails import ThumbnailService
from imagelake.services.uploads import DirectUploads

if TYPE_CHECKING:
    from imagelake.services.analytics import Analytics
    from imagelake.services.lake import LakeCompactor

JOBS_QUEUE_NAME = "thumbnails"
EVENTS_QUEUE_NAME = "events"


@dataclass
class Container:
    settings: Settings
    signer: Signer
    blobs: BlobStore
    thumbnails: BlobStore
    archive: BlobStore
    catalog: Catalog
    events: Queue
    jobs: Queue
    notifier: Notifier
    engine: ImageEngine

    def close(self) -> None:
        self.catalog.close()
        self.events.close()
        if self.jobs is not self.events:
            self.jobs.close()


def _path(url: str) -> Path:
    parts = urlsplit(url)
    return Path(unquote(parts.netloc + parts.path))


def _sqlite_path(url: str) -> Path:
    # sqlite:///abs/path -> /abs/path ; sqlite://rel/path -> rel/path
    return Path(unquote(url.split("://", 1)[1]))


def _aws_client(service: str) -> Any:
    from imagelake.adapters.aws_clients import client

    return client(service)


def _blob_store(url: str, settings: Settings, signer: Signer) -> BlobStore:
    scheme = urlsplit(url).scheme
    if scheme == "file":
        from imagelake.adapters.local import LocalBlobStore

        return LocalBlobStore(_path(url), settings.base_url, signer)
    if scheme == "memory":
        from imagelake.adapters.memory import MemoryBlobStore

        return MemoryBlobStore(settings.base_url, signer)
    if scheme == "s3":
        from imagelake.adapters.s3 import S3BlobStore

        parts = urlsplit(url)
        return S3BlobStore(_aws_client("s3"), parts.netloc, parts.path.strip("/"))
    raise ConfigError(f"unknown blob store scheme in {url!r}: use file://, s3:// or memory://")


def _catalog(url: str) -> Catalog:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from imagelake.adapters.sqlite_catalog import SqliteCatalog

        return SqliteCatalog(_sqlite_path(url))
    if scheme == "memory":
        from imagelake.adapters.memory import MemoryCatalog

        return MemoryCatalog()
    if scheme == "dynamodb":
        from imagelake.adapters.dynamodb import DynamoDBCatalog

        return DynamoDBCatalog(_aws_client("dynamodb"), urlsplit(url).netloc)
    raise ConfigError(f"unknown catalog scheme in {url!r}: use sqlite://, dynamodb:// or memory://")


def _queue(url: str, name: str) -> Queue:
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from imagelake.adapters.sqlite_queue import SqliteQueue

        return SqliteQueue(_sqlite_path(url), name)
    if scheme == "memory":
        from imagelake.adapters.memory import MemoryQueue

        return MemoryQueue(name)
    if scheme == "sqs":
        from imagelake.adapters.sqs import SqsQueue

        return SqsQueue(_aws_client("sqs"), urlsplit(url).netloc)
    raise ConfigError(f"unknown queue scheme in {url!r}: use sqlite://, sqs:// or memory://")


def _notifier(url: str) -> Notifier:
    scheme = urlsplit(url).scheme
    builders: dict[str, Callable[[], Notifier]] = {}
    from imagelake.adapters import notifiers

    builders = {
        "log": notifiers.LogNotifier,
        "webhook+http": lambda: notifiers.WebhookNotifier(url.removeprefix("webhook+")),
        "webhook+https": lambda: notifiers.WebhookNotifier(url.removeprefix("webhook+")),
        "smtp": lambda: notifiers.SmtpNotifier.from_url(url),
        "memory": notifiers.RecordingNotifier,
    }
    if scheme == "sns":
        from imagelake.adapters.sns import SnsNotifier

        return SnsNotifier(_aws_client("sns"), url.removeprefix("sns://"))
    if scheme not in builders:
        raise ConfigError(
            f"unknown notifier in {url!r}: use log://, webhook+https://, smtp://, sns://"
        )
    return builders[scheme]()


def build(settings: Settings, on_send: Callable[[], None] | None = None) -> Container:
    """Resolve every configured backend once and return them wired together.

    on_send, if given, is called after anything is sent to either queue (workers to wake).
    """
    from imagelake.adapters.vips import VipsEngine

    current, previous = settings.signing_secrets()
    signer = Signer(current, tuple(previous))
    blobs = _blob_store(settings.blobs_url, settings, signer)
    thumbnails = (
        blobs
        if settings.thumbnails_url == settings.blobs_url
        else _blob_store(settings.thumbnails_url, settings, signer)
    )
    archive = (
        blobs
        if settings.archive_url == settings.blobs_url
        else _blob_store(settings.archive_url, settings, signer)
    )
    events = _queue(settings.queue_url, EVENTS_QUEUE_NAME)
    jobs = _queue(settings.jobs_queue_url, JOBS_QUEUE_NAME)
    if on_send is not None:
        from imagelake.adapters.notifying import NotifyingQueue

        events, jobs = NotifyingQueue(events, on_send), NotifyingQueue(jobs, on_send)
    return Container(
        settings=settings,
        signer=signer,
        blobs=blobs,
        thumbnails=thumbnails,
        archive=archive,
        catalog=_catalog(settings.catalog_url),
        events=events,
        jobs=jobs,
        notifier=_notifier(settings.notify),
        engine=VipsEngine(settings.max_pixels),
    )


@dataclass
class Services:
    container: Container
    ingest: IngestService
    images: ImageService
    thumbnails: ThumbnailService
    keys: KeyService
    thumbnail_jobs: ThumbnailJobConsumer
    requests: RequestRecorder
    intake: EventIntake
    monitor: EventConsumer
    uploads: DirectUploads


def services(c: Container) -> Services:
    """The use cases wired over a container's ports."""
    s = c.settings
    thumbnails = ThumbnailService(
        c.blobs,
        c.thumbnails,
        c.catalog,
        c.engine,
        s.thumbnail_spec,
        c.jobs,
        c.events,
        c.notifier,
        notify_ready=s.notify_on == "all",
        url_ttl=s.url_ttl,
    )
    ingest = IngestService(c.blobs, c.catalog, c.jobs, c.events, c.engine, s.max_pixels)
    return Services(
        container=c,
        ingest=ingest,
        uploads=DirectUploads(c.blobs, ingest, s.max_upload_bytes, s.url_ttl),
        images=ImageService(
            c.blobs, c.thumbnails, c.catalog, c.events, s.thumbnail_spec, s.url_ttl, s.max_url_ttl
        ),
        thumbnails=thumbnails,
        keys=KeyService(c.catalog),
        thumbnail_jobs=ThumbnailJobConsumer(
            c.jobs, thumbnails, s.max_receives, s.retry_base_delay, s.visibility_timeout
        ),
        requests=RequestRecorder(c.events),
        intake=EventIntake(c.events),
        monitor=EventConsumer(
            c.events,
            EventArchiver(c.archive),
            StatsStore(c.catalog),
            c.notifier,
            batch_size=s.event_batch_size,
            max_receives=s.max_receives,
            base_delay=s.retry_base_delay,
            visibility_timeout=s.visibility_timeout,
        ),
    )


@dataclass
class Lake:
    compactor: LakeCompactor
    analytics: Analytics


def lake(c: Container, threads: int | None = None) -> Lake:
    """The event lake's services; built on demand, as they load DuckDB."""
    from imagelake.services.analytics import Analytics
    from imagelake.services.lake import LakeCompactor

    cache = c.settings.data_dir / "lake-cache"
    return Lake(LakeCompactor(c.archive, threads), Analytics(c.archive, cache, threads))
