"""The composition root: the only place that names concrete adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar
from urllib.parse import urlsplit

from imagelake.adapters import aws, embedded, memory, notify
from imagelake.adapters.waking_queue import WakingQueue
from imagelake.config import Settings
from imagelake.domain.errors import ConfigError
from imagelake.domain.signing import Signer
from imagelake.lake.analytics import Analytics
from imagelake.lake.archive import EventArchiver
from imagelake.lake.compaction import LakeCompactor
from imagelake.lake.quarantine import Quarantine
from imagelake.ports import (
    BackendSpec,
    BlobStore,
    Catalog,
    Factory,
    ImageEngine,
    LakeEngine,
    Notifier,
    Queue,
)
from imagelake.services.api_keys import KeyService
from imagelake.services.delivery import DeliveryPolicy, DeliveryService
from imagelake.services.doctor import DoctorService
from imagelake.services.files import SignedFiles
from imagelake.services.image_requests import RequestRecorder
from imagelake.services.images import ImageService
from imagelake.services.ingest import IngestService
from imagelake.services.intake import EventIntake
from imagelake.services.jobs import ThumbnailJobConsumer
from imagelake.services.mezzanine import Mezzanines
from imagelake.services.monitor import EventConsumer, StatsStore
from imagelake.services.operations import QueueOperations
from imagelake.services.thumbnails import ThumbnailService
from imagelake.services.uploads import DirectUploads
from imagelake.services.variant_cache import VariantCache

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
    lake_engine: LakeEngine

    def close(self) -> None:
        self.catalog.close()
        self.events.close()
        if self.jobs is not self.events:
            self.jobs.close()


BackendKind = TypeVar("BackendKind")

BLOB_STORES: dict[str, Factory[BlobStore]] = (
    memory.BLOB_STORES | embedded.BLOB_STORES | aws.BLOB_STORES
)
CATALOGS: dict[str, Factory[Catalog]] = memory.CATALOGS | embedded.CATALOGS | aws.CATALOGS
QUEUES: dict[str, Factory[Queue]] = memory.QUEUES | embedded.QUEUES | aws.QUEUES
NOTIFIERS: dict[str, Factory[Notifier]] = memory.NOTIFIERS | notify.NOTIFIERS | aws.NOTIFIERS
IMAGE_ENGINES: dict[str, Factory[ImageEngine]] = embedded.IMAGE_ENGINES
LAKE_ENGINES: dict[str, Factory[LakeEngine]] = embedded.LAKE_ENGINES


def resolve(registry: dict[str, Factory[BackendKind]], what: str, spec: BackendSpec) -> BackendKind:
    """The backend spec.url names, built by the factory its scheme is registered with."""
    scheme = urlsplit(spec.url).scheme
    factory = registry.get(scheme)
    if factory is None:
        schemes = ", ".join(f"{name}://" for name in sorted(registry))
        raise ConfigError(f"unknown {what} scheme in {spec.url!r}: use {schemes}")
    return factory(spec)


def build(
    settings: Settings,
    on_send: Callable[[], None] | None = None,
    engine_threads: int | None = None,
) -> Container:
    """Resolve every configured backend once and return them wired together.

    on_send, if given, is called after anything is sent to either queue (workers to wake);
    engine_threads sets the image engine's threads per operation (None: the engine's own).
    """
    current, previous = settings.signing_secrets()
    signer = Signer(current, tuple(previous))
    spec = BackendSpec(
        url="",
        base_url=settings.base_url,
        signer=signer,
        max_pixels=settings.max_pixels,
        engine_threads=engine_threads,
        max_receives=settings.max_receives,
        public_origin=settings.public_url.rstrip("/") or "*",
    )

    def store(url: str) -> BlobStore:
        return resolve(BLOB_STORES, "blob store", replace(spec, url=url))

    def queue(url: str, name: str) -> Queue:
        built = resolve(QUEUES, "queue", replace(spec, url=url, name=name))
        return built if on_send is None else WakingQueue(built, on_send)

    blobs = store(settings.blobs_url)
    thumbnails = (
        blobs if settings.thumbnails_url == settings.blobs_url else store(settings.thumbnails_url)
    )
    archive = blobs if settings.archive_url == settings.blobs_url else store(settings.archive_url)
    return Container(
        settings=settings,
        signer=signer,
        blobs=blobs,
        thumbnails=thumbnails,
        archive=archive,
        catalog=resolve(CATALOGS, "catalog", replace(spec, url=settings.catalog_url)),
        events=queue(settings.queue_url, EVENTS_QUEUE_NAME),
        jobs=queue(settings.jobs_queue_url, JOBS_QUEUE_NAME),
        notifier=resolve(NOTIFIERS, "notifier", replace(spec, url=settings.notify)),
        engine=resolve(IMAGE_ENGINES, "image engine", replace(spec, url="vips://")),
        lake_engine=resolve(LAKE_ENGINES, "lake engine", replace(spec, url="duckdb://")),
    )


@dataclass
class Lake:
    compactor: LakeCompactor
    analytics: Analytics
    quarantine: Quarantine


@dataclass
class Services:
    container: Container  # for tests and tools that inspect state; routes use services
    settings: Settings
    lake: Lake
    files: SignedFiles
    operations: QueueOperations
    ingest: IngestService
    images: ImageService
    thumbnails: ThumbnailService
    keys: KeyService
    thumbnail_jobs: ThumbnailJobConsumer
    requests: RequestRecorder
    intake: EventIntake
    monitor: EventConsumer
    uploads: DirectUploads
    doctor: DoctorService
    delivery: DeliveryService
    variant_cache: VariantCache


def services(c: Container) -> Services:
    """The use cases wired over a container's ports."""
    s = c.settings
    delivery = DeliveryService(
        signer=c.signer,
        blobs=c.blobs,
        thumbnails=c.thumbnails,
        catalog=c.catalog,
        engine=c.engine,
        policy=DeliveryPolicy(
            base_url=s.base_url,
            presets=s.presets_table,
            max_dimension=s.max_output_dimension,
            default_quality=s.thumbnail_quality,
            max_frames=s.max_animation_frames,
            window=s.url_window,
            max_age=s.delivery_max_age,
            # Remote stores hand the bytes out themselves: no payload through the API.
            redirect=any(url.startswith("s3://") for url in (s.blobs_url, s.thumbnails_url)),
        ),
        mezzanines=Mezzanines(
            blobs=c.blobs, thumbnails=c.thumbnails, engine=c.engine, size=s.mezzanine_size
        ),
    )
    thumbnails = ThumbnailService(
        blobs=c.blobs,
        thumbnails=c.thumbnails,
        catalog=c.catalog,
        engine=c.engine,
        spec=s.thumbnail_spec,
        jobs=c.jobs,
        events=c.events,
        notifier=c.notifier,
        notify_ready=s.notify_on == "all",
        url_ttl=s.url_ttl,
        delivery=delivery,
    )
    ingest = IngestService(
        blobs=c.blobs,
        catalog=c.catalog,
        jobs=c.jobs,
        events=c.events,
        engine=c.engine,
        max_pixels=s.max_pixels,
    )
    return Services(
        container=c,
        settings=s,
        lake=lake(c),
        files=SignedFiles(signer=c.signer, originals=c.blobs, thumbnails=c.thumbnails),
        operations=QueueOperations(events=c.events, jobs=c.jobs),
        ingest=ingest,
        uploads=DirectUploads(
            blobs=c.blobs, ingest=ingest, max_bytes=s.max_upload_bytes, ttl=s.url_ttl
        ),
        images=ImageService(
            blobs=c.blobs,
            thumbnails=c.thumbnails,
            catalog=c.catalog,
            events=c.events,
            spec=s.thumbnail_spec,
            delivery=delivery,
            url_ttl=s.url_ttl,
            max_url_ttl=s.max_url_ttl,
        ),
        thumbnails=thumbnails,
        keys=KeyService(c.catalog),
        thumbnail_jobs=ThumbnailJobConsumer(
            jobs=c.jobs,
            service=thumbnails,
            max_receives=s.max_receives,
            base_delay=s.retry_base_delay,
            visibility_timeout=s.visibility_timeout,
        ),
        requests=RequestRecorder(c.events),
        doctor=DoctorService(
            blobs=c.blobs, thumbnails=c.thumbnails, catalog=c.catalog, jobs=c.jobs
        ),
        delivery=delivery,
        variant_cache=VariantCache(
            thumbnails=c.thumbnails,
            catalog=c.catalog,
            spec=s.thumbnail_spec,
            max_bytes=s.variant_cache_bytes,
        ),
        intake=EventIntake(c.events, limits=s.event_limits),
        monitor=EventConsumer(
            events=c.events,
            archiver=EventArchiver(c.archive),
            stats=StatsStore(c.catalog),
            notifier=c.notifier,
            batch_size=s.event_batch_size,
            max_receives=s.max_receives,
            base_delay=s.retry_base_delay,
            visibility_timeout=s.visibility_timeout,
            limits=s.event_limits,
        ),
    )


def lake(c: Container, threads: int | None = None) -> Lake:
    """The event lake's services over a container's archive and lake engine."""
    cache = c.settings.data_dir / "lake-cache"
    return Lake(
        LakeCompactor(c.archive, c.lake_engine, threads),
        Analytics(c.archive, c.lake_engine, cache, threads),
        Quarantine(c.archive),
    )


PROVISIONERS: dict[str, Callable[[BackendSpec], list[str]]] = aws.PROVISIONERS


def provision(settings: Settings) -> list[str]:
    """Create the buckets, tables, queues and topic the settings name, idempotently; one line
    per resource on what was done."""
    spec = BackendSpec(url="", max_receives=settings.max_receives, public_origin="")
    specs = [
        # Browsers upload into the blobs store only: no other store gets a CORS rule.
        replace(spec, url=settings.blobs_url, public_origin=settings.public_url.rstrip("/") or "*"),
        replace(spec, url=settings.thumbnails_url),
        replace(spec, url=settings.archive_url),
        replace(spec, url=settings.catalog_url),
        replace(spec, url=settings.queue_url, name=EVENTS_QUEUE_NAME),
        replace(spec, url=settings.jobs_queue_url, name=JOBS_QUEUE_NAME),
        replace(spec, url=settings.notify),
    ]
    # A URL's scheme and host name the bucket, table prefix, queue or topic: each is made
    # once, by the first spec naming it (stores sharing the blobs bucket share its CORS).
    todo: dict[tuple[str, str], BackendSpec] = {}
    for each in specs:
        where = urlsplit(each.url)
        if where.scheme in PROVISIONERS:
            todo.setdefault((where.scheme, where.netloc), each)
    done = [line for (scheme, _), each in todo.items() for line in PROVISIONERS[scheme](each)]
    if done:
        return done
    *others, last = (f"{scheme}://" for scheme in PROVISIONERS)
    return [f"nothing to do: no {', '.join(others)} or {last} backend configured"]
