"""Every setting, declared once with its default and help; env (IMAGELAKE_*) or a TOML file."""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic.config import JsonDict
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from imagelake.domain.events import MAX_EVENT_BYTES, MAX_EVENT_SKEW, EventLimits
from imagelake.domain.images import ThumbnailSpec
from imagelake.domain.variants import Presets, parse_presets, size_presets

MiB = 1024 * 1024
SECRET: JsonDict = {"secret": True}  # a setting `imagelake config` shows as ***


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMAGELAKE_", extra="ignore")

    data_dir: Path = Field(Path("./imagelake-data"), description="Where embedded state lives.")
    blobs: str = Field(
        "",
        description="Originals store: `file://DIR` or `s3://bucket/prefix`. "
        "Default `file://$DATA_DIR/blobs`.",
    )
    thumbnails: str = Field(
        "", description="Thumbnail store (`thumbnails/` keys). Default: the originals store."
    )
    archive: str = Field(
        "", description="Event lake store (`events/` keys). Default: the originals store."
    )
    catalog: str = Field(
        "",
        description="Catalog: `sqlite:///PATH`, `memory://` or "
        "`dynamodb://TABLE_PREFIX`. Default `sqlite:///$DATA_DIR/catalog.db`.",
    )
    queue: str = Field(
        "",
        description="Observer event queue: `sqlite:///PATH`, `memory://` or "
        "`sqs://NAME`. Default `sqlite:///$DATA_DIR/queue.db`.",
    )
    jobs_queue: str = Field(
        "",
        description="Thumbnail job queue, same schemes. "
        "Default: the observer queue's database, or `<observer queue>-thumbnails` on SQS.",
    )
    notify: str = Field(
        "log://",
        description="Notifications: `log://`, `webhook+https://...`, "
        "`smtp://host:port?from=...&to=...`, `sns://TOPIC_ARN`.",
    )
    notify_on: Literal["failure", "all"] = Field(
        "failure",
        description="`failure`: dead letters and failed thumbnails; `all` adds "
        "thumbnail-ready notices.",
    )
    thumbnail_sizes: str = Field("128,256,512", description="Long side of each thumbnail, px.")
    thumbnail_format: Literal["jpeg", "webp", "avif"] = Field(
        "jpeg", description="Thumbnail encoding."
    )
    thumbnail_quality: int = Field(82, ge=1, le=100, description="Thumbnail encoder quality.")
    signing_key: str = Field(
        "",
        description="Secret for signed URLs. Default: generated once into `$DATA_DIR/signing.key`.",
        json_schema_extra=SECRET,
    )
    signing_keys_previous: str = Field(
        "",
        description="Comma-separated retired signing keys still accepted (key rotation).",
        json_schema_extra=SECRET,
    )
    host: str = Field("127.0.0.1", description="Listen address.")
    port: int = Field(8000, description="Listen port.")
    public_url: str = Field("", description="Base URL in signed links. Default `http://HOST:PORT`.")
    auth: Literal["on", "off"] = Field(
        "on", description="`off` disables API keys (local hacking only)."
    )
    allow_insecure: bool = Field(
        False,
        description="Let `serve` run with `IMAGELAKE_AUTH=off` on a non-loopback "
        "`IMAGELAKE_HOST` (refused otherwise).",
    )
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=0,
        description="Worker processes. Default: the core count.",
    )
    max_upload_bytes: int = Field(50 * MiB, description="Largest accepted upload body.")
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest request line and headers together, bytes; more is refused with 431.",
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a client has to send the request line and headers (408 after).",
    )
    body_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds the API waits in all for a request body to arrive (408 after); "
        "a full-size upload then needs about `MAX_UPLOAD_BYTES / BODY_TIMEOUT` bytes/s.",
    )
    rate_limit: str = Field(
        "200/second",
        description="Requests allowed per API key, and failed authentications per client "
        "address (`limits` notation: `50/second`, `1000/minute;50/second`); over it gets 429 "
        "with `Retry-After`. Counted in each API process. Empty: no limit.",
    )
    max_pixels: int = Field(
        100_000_000, description="Largest accepted width x height (decompression-bomb guard)."
    )
    url_ttl: int = Field(3600, ge=1, description="Least lifetime of handed-out links, seconds.")
    url_window: int = Field(
        3600, ge=1, description="Link expiries round up to a multiple of this, seconds: links "
        "minted within one window are identical, so caches can keep them.",
    )  # fmt: skip
    presets: str = Field(
        "", description="Named variants: `card=w:300,h:200,fit:cover;hero=w:1600`."
    )
    max_output_dimension: int = Field(4096, ge=16, le=16384, description="Longest output side.")
    max_animation_frames: int = Field(100, ge=1, description="Frames kept of an animation.")
    mezzanine_size: int = Field(
        1024, ge=0, description="Long side of the intermediate JPEG originals' smaller "
        "variants are rendered from (a tenth of the decode). 0: always from the original.",
    )  # fmt: skip
    variant_cache_bytes: int = Field(
        10 * 1024**3, ge=0, description="Bytes of rendered variants kept (upload-time "
        "thumbnails excluded); the least recently requested go first. 0: no limit.",
    )  # fmt: skip
    delivery_max_age: int = Field(
        0, ge=0, description="`Cache-Control: private, max-age` of delivered images. 0 sends "
        "`no-cache`: browsers keep the bytes but ask again, so every view is counted.",
    )  # fmt: skip
    thumbor_security_key: str = Field(
        "",
        description="thumbor's SECURITY_KEY: enables `/thumbor/...` URLs signed with it.",
        json_schema_extra=SECRET,
    )
    thumbor_user: str = Field("thumbor", description="User that `/thumbor/` fetches count for.")
    max_url_ttl: int = Field(7 * 24 * 3600, ge=1, description="Cap on `?ttl=`, seconds.")
    max_receives: int = Field(5, ge=1, description="Deliveries before a message is dead-lettered.")
    visibility_timeout: float = Field(
        60.0, gt=0, description="Seconds a claimed message stays hidden before redelivery."
    )
    retry_base_delay: float = Field(
        1.0, ge=0, description="First retry delay, seconds (doubles per attempt)."
    )
    max_event_bytes: int = Field(
        MAX_EVENT_BYTES,
        ge=1,
        description="Largest accepted event payload, bytes: `POST /events` answers 413 for a "
        "larger one, the consumer dead-letters it.",
    )
    max_event_skew: int = Field(
        MAX_EVENT_SKEW,
        ge=0,
        description="Seconds an event's timestamp may lie ahead of the server's clock: "
        "`POST /events` answers 422 beyond it, the consumer dead-letters it.",
    )
    event_batch_size: int = Field(
        2000,
        ge=1,
        le=10_000,
        description="Events the consumer takes per batch (one archive object, one catalog "
        "commit each: bigger batches cost fewer fsyncs).",
    )
    lake_compact_interval: float = Field(
        300.0,
        ge=0,
        description="Seconds between compactions of the event lake's closed hours into "
        "Parquet, run by `serve` and `worker`; 0 turns them off.",
    )
    variant_evict_interval: float = Field(
        60.0,
        ge=0,
        description="Seconds between checks of `VARIANT_CACHE_BYTES`, run by `serve` and "
        "`worker`; 0 turns eviction off.",
    )
    sentry_dsn: str = Field(
        "",
        validation_alias=AliasChoices("IMAGELAKE_SENTRY_DSN", "SENTRY_DSN"),
        description="Report unhandled errors to Sentry (`SENTRY_DSN` works too).",
        json_schema_extra=SECRET,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("IMAGELAKE_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value) if value.strip() else None
        except ValueError:
            raise ValueError(
                f"rate limit {value!r} is not like `50/second` or `1000/minute;50/second`"
            ) from None
        return value.strip()

    @field_validator("thumbnail_sizes")
    @classmethod
    def _sizes(cls, value: str) -> str:
        sizes = [int(s) for s in value.split(",") if s.strip()]
        if not sizes or any(s < 8 or s > 8192 for s in sizes):
            raise ValueError("thumbnail sizes must be integers between 8 and 8192")
        return ",".join(str(s) for s in sorted(set(sizes)))

    # Derived values: resolved defaults that depend on data_dir.
    @property
    def blobs_url(self) -> str:
        return self.blobs or f"file://{self.data_dir.resolve()}/blobs"

    @property
    def thumbnails_url(self) -> str:
        return self.thumbnails or self.blobs_url

    @property
    def archive_url(self) -> str:
        return self.archive or self.blobs_url

    @property
    def catalog_url(self) -> str:
        return self.catalog or f"sqlite:///{self.data_dir.resolve()}/catalog.db"

    @property
    def queue_url(self) -> str:
        return self.queue or f"sqlite:///{self.data_dir.resolve()}/queue.db"

    @property
    def jobs_queue_url(self) -> str:
        if self.jobs_queue:
            return self.jobs_queue
        if self.queue_url.startswith("sqs://"):  # one SQS queue per kind of message
            return self.queue_url.rstrip("/") + "-thumbnails"
        return self.queue_url

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def event_limits(self) -> EventLimits:
        return EventLimits(self.max_event_bytes, timedelta(seconds=self.max_event_skew))

    @property
    def presets_table(self) -> Presets:
        """`size=` and `preset=` names: ConfigError when IMAGELAKE_PRESETS is malformed."""
        spec = self.thumbnail_spec
        named = parse_presets(self.presets, self.max_output_dimension)
        return Presets(size_presets(spec.sizes, spec.format, spec.quality), named)

    @property
    def thumbnail_spec(self) -> ThumbnailSpec:
        sizes = tuple(int(s) for s in self.thumbnail_sizes.split(","))
        return ThumbnailSpec(sizes, self.thumbnail_format, self.thumbnail_quality)

    def signing_secrets(self) -> tuple[bytes, list[bytes]]:
        """The current signing secret (generated and kept in DATA_DIR if unset) and old ones."""
        previous = [k.strip().encode() for k in self.signing_keys_previous.split(",") if k.strip()]
        if self.signing_key:
            return self.signing_key.encode(), previous
        path = self.data_dir / "signing.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # first writer wins when several processes start at once
            tmp.unlink(missing_ok=True)
        return path.read_text().strip().encode(), previous


def settings_markdown() -> str:
    """The configuration table for the README, generated from the declarations above."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        env = "SENTRY_DSN" if name == "sentry_dsn" else f"IMAGELAKE_{name.upper()}"
        default = "core count" if name == "workers" else info.default
        shown = f"`{default}`" if default not in ("", None) else "—"
        rows.append(f"| `{env}` | {shown} | {info.description} |")
    return "\n".join(rows) + "\n"
