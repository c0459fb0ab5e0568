"""Delivery: mint signed links, and answer them from a render-once cache of variants.

Every variant is rendered once per (image, normal form, output format) into the thumbnails
store under `thumbnails/{image_id}/v/{name}` and read from there afterwards. Concurrent first
requests in one process wait for one render (other processes or nodes may render the same
bytes once more, harmlessly: the key is deterministic and the put atomic). A variant deleted
underneath, by eviction or by hand, is simply rendered again.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from imagelake import metrics
from imagelake.domain.delivery import (
    Link,
    check_user_id,
    read_link,
    unique_params,
    window_expiry,
)
from imagelake.domain.errors import (
    CorruptImage,
    Forbidden,
    InvalidInput,
    NotFound,
    UnsupportedMediaType,
)
from imagelake.domain.images import Image, ImageStatus, is_image_id, variant_key
from imagelake.domain.signing import Signer
from imagelake.domain.sniff import SNIFF_BYTES, sniff_content_type
from imagelake.domain.thumbor import parse_thumbor_path, thumbor_variant, verify_thumbor_signature
from imagelake.domain.variants import (
    Presets,
    Render,
    Variant,
    negotiate,
    parse_variant,
)
from imagelake.ports import BlobMeta, BlobStore, Catalog, ImageEngine
from imagelake.services.mezzanine import Mezzanines

INLINE_BYTES = 256 * 1024  # a cached variant up to this is read whole on a hit


@dataclass(frozen=True)
class DeliveryPolicy:
    base_url: str
    presets: Presets
    max_dimension: int = 4096
    default_quality: int = 82
    max_frames: int = 100
    window: int = 3600  # link expiries are rounded up to a multiple of this
    max_age: int = 0  # IMAGELAKE_DELIVERY_MAX_AGE
    redirect: bool = False  # answer with a redirect to the store's own URL (S3: presigned)
    redirect_ttl: int = 300  # that URL's lifetime, seconds


@dataclass(frozen=True)
class Delivery:
    """What one fetch of a link gets: a stored blob, and what to count."""

    image_id: str
    user_id: str  # whom the fetch counts for
    name: str  # the output's name, recorded in the event: "original" or a Render.name
    meta: BlobMeta
    store: BlobStore
    vary_accept: bool = False  # format=auto: the bytes depend on the Accept header
    rendered: bool = False
    seconds_left: int = field(default=0)
    path: Path | None = None  # the blob's own file, where the store keeps local files
    max_age: int = 0  # how long browsers may reuse it without asking (0: ask every view)
    data: bytes | None = None  # the whole blob, when a small local file was read to check it

    @property
    def caching_headers(self) -> dict[str, str]:
        """ETag, Cache-Control and (for format=auto) Vary. Per-user links are private: a
        shared cache would answer later views without counting them. With no max-age (the
        default) browsers keep the bytes and revalidate each view."""
        max_age = min(self.max_age, self.seconds_left)
        cache = f"private, max-age={max_age}" if max_age else "private, no-cache"
        headers = {"ETag": self.meta.etag, "Cache-Control": cache}
        if self.vary_accept:
            headers["Vary"] = "Accept"
        return headers

    def redirect_url(self, ttl: int) -> str:
        return self.store.signed_url(self.meta.key, ttl)


class DeliveryService:
    def __init__(
        self,
        *,
        signer: Signer,
        blobs: BlobStore,
        thumbnails: BlobStore,
        catalog: Catalog,
        engine: ImageEngine,
        policy: DeliveryPolicy,
        mezzanines: Mezzanines,
    ) -> None:
        self._signer = signer
        self._blobs = blobs
        self._thumbnails = thumbnails
        self._catalog = catalog
        self._engine = engine
        self.policy = policy
        self._mezzanines = mezzanines
        self._flights: dict[str, threading.Lock] = {}
        # Hot links are verified once: HMAC and parsing cost more than the rest of a hit.
        self._verified = functools.lru_cache(maxsize=8192)(self._verified_uncached)
        self._negotiated = functools.lru_cache(maxsize=8192)(self._render_for)
        self._variant_key = functools.lru_cache(maxsize=8192)(variant_key)
        self._variant_path = functools.lru_cache(maxsize=8192)(thumbnails.local_path)
        self._flights_lock = threading.Lock()

    def variant(self, params: Mapping[str, str]) -> Variant:
        """The variant query parameters ask for, presets and `size=` resolved."""
        return parse_variant(params, self.policy.presets, self.policy.max_dimension)

    def mint(self, image: Image, variant: Variant, user_id: str, ttl: int) -> str:
        """The delivery URL of one variant, counted for user_id, valid at least ttl seconds."""
        if not variant.is_original and max(variant.w, variant.h) == 0:
            self._check_full_size(image)
        expires = window_expiry(time.time(), ttl, self.policy.window)
        link = Link(image.image_id, variant.normalised(), check_user_id(user_id), expires)
        return self.policy.base_url + link.path(self._signer)

    def open(self, image_id: str, query: Mapping[str, str], accept: str) -> Delivery:
        """The blob a link names, rendered now if it is not cached; Forbidden for a bad link."""
        now = time.time()
        link = read_link(image_id, query, self._signer, now, self.policy.max_dimension)
        return self._serve(link.image_id, link.variant, accept, link.user_id, link.expires - now)

    def cached(self, image_id: str, query: str, accept: str) -> Delivery | None:
        """open() for a variant already rendered into a store of local files, from the raw
        query string: no catalog, no thread, a stat and a few dict lookups, so it may run on
        the event loop. None when it is not that case: call open()."""
        if self.policy.redirect:
            return None
        now = time.time()
        link = self._verified(image_id, query)
        if link.expires < now:
            raise Forbidden("this link has expired")
        if link.variant.is_original:
            return None
        render, vary = self._negotiated(link.variant, accept)
        key = self._variant_key(image_id, render)
        path = self._variant_path(key)
        found = _local_meta(key, path, INLINE_BYTES) if path is not None else None
        if found is None:
            return None
        meta, data = found
        metrics.VARIANT_CACHE_HITS.inc()
        return self._delivery(image_id, link.user_id, render.name, meta, link.expires - now,
                              vary_accept=vary, path=path, data=data)  # fmt: skip

    def _verified_uncached(self, image_id: str, query: str) -> Link:
        """The link a raw query string presents, its signature checked (expiry aside)."""
        params = unique_params(parse_qsl(query, keep_blank_values=True))
        return read_link(image_id, params, self._signer, 0, self.policy.max_dimension)

    def open_thumbor(self, path: str, accept: str, key: bytes, user_id: str) -> Delivery:
        """A thumbor URL (the path after /thumbor), signed as libthumbor signs, as a variant."""
        asked = parse_thumbor_path(path, max_dimension=self.policy.max_dimension)
        verify_thumbor_signature(asked.signed_part, asked.signature or "", key)
        image = self._image(asked.image_id) if is_image_id(asked.image_id) else None
        if image is None:
            raise NotFound(f"no image {asked.image_id[:64]!r}")
        variant = thumbor_variant(asked, image.content_type)
        return self._serve(image.image_id, variant, accept, user_id, self.policy.window)

    def _serve(
        self, image_id: str, variant: Variant, accept: str, user_id: str, left: float
    ) -> Delivery:
        if variant.is_original:
            image = self._image(image_id)
            meta = self._blobs.head(image.original_key)
            path = self._blobs.local_path(image.original_key)
            return self._delivery(image_id, user_id, "original", meta, left, path=path)
        render, vary = self._render_for(variant, accept)
        key = variant_key(image_id, render)
        meta, rendered = self._cached_or_render(key, image_id, render)
        path = self._thumbnails.local_path(key)
        return self._delivery(image_id, user_id, render.name, meta, left,
                              vary_accept=vary, rendered=rendered, path=path)  # fmt: skip

    def _delivery(
        self, image_id: str, user_id: str, name: str, meta: BlobMeta, left: float, **more: Any
    ) -> Delivery:
        store = self._blobs if name == "original" else self._thumbnails
        seconds, max_age = max(0, int(left)), self.policy.max_age
        return Delivery(image_id=image_id, user_id=user_id, name=name, meta=meta, store=store,
                        seconds_left=seconds, max_age=max_age, **more)  # fmt: skip

    def _render_for(self, variant: Variant, accept: str) -> tuple[Render, bool]:
        """What to make, and whether that depended on the Accept header."""
        render = negotiate(variant, accept, self.policy.default_quality)
        vary = render.png_if_alpha or render.variant.format != variant.format
        return Render(render.variant, render.png_if_alpha, self.policy.max_frames), vary

    def _cached_or_render(self, key: str, image_id: str, render: Render) -> tuple[BlobMeta, bool]:
        meta = self._head(key)
        if meta is not None:
            metrics.VARIANT_CACHE_HITS.inc()
            return meta, False
        with self._flight(key):
            meta = self._head(key)  # rendered by the request this one waited for
            if meta is not None:
                return meta, False
            image = self._image(image_id)
            if image.status == ImageStatus.FAILED:  # decoded once already: no second try
                raise CorruptImage(f"image {image_id} failed: {image.failure_reason}")
            if max(render.variant.w, render.variant.h) == 0:
                self._check_full_size(image)
            started = time.perf_counter()
            source = self._mezzanines.source(image, render.variant)
            output = self._engine.render(source, render)
            self._thumbnails.put(key, output.data, output.content_type)
            fmt = output.content_type.removeprefix("image/")
            metrics.RENDER_SECONDS.labels(fmt).observe(time.perf_counter() - started)
            metrics.VARIANTS_RENDERED.labels(fmt).inc()
            meta = self._head(key)
            if meta is None:
                raise NotFound(f"the variant {render.name} of {image_id} vanished as it was made")
            return meta, True

    def _head(self, key: str) -> BlobMeta | None:
        """The variant's metadata if it is stored; a local file's from one stat."""
        path = self._thumbnails.local_path(key)
        if path is not None:
            found = _local_meta(key, path)
            return found[0] if found else None
        try:
            return self._thumbnails.head(key)
        except NotFound:
            return None

    @contextmanager
    def _flight(self, key: str) -> Iterator[None]:
        with self._flights_lock:
            lock = self._flights.setdefault(key, threading.Lock())
        try:
            with lock:
                yield
        finally:
            with self._flights_lock:
                if self._flights.get(key) is lock and not lock.locked():
                    del self._flights[key]

    def _image(self, image_id: str) -> Image:
        try:
            return self._catalog.get_image(image_id)
        except NotFound:
            raise NotFound(f"no image {image_id}") from None

    def _check_full_size(self, image: Image) -> None:
        limit = self.policy.max_dimension
        if max(image.width, image.height) > limit:
            raise InvalidInput(
                f"the image is {image.width}x{image.height}; a full-size output over {limit} px "
                "is refused: give w or h"
            )


def _local_meta(key: str, path: Path, inline: int = 0) -> tuple[BlobMeta, bytes | None] | None:
    """A rendered variant's metadata from its file: one open, one stat, its first bytes, or
    all of them when it is at most `inline` bytes. The ETag is the file's mtime and size (a
    variant is written once; rendered again, it changes). None: not there, or not an image."""
    try:
        fd = os.open(path, os.O_RDONLY)  # plain os calls: a hit's cost is mostly syscalls
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        stat = os.fstat(fd)
        whole = stat.st_size <= inline
        head = os.read(fd, stat.st_size if whole else SNIFF_BYTES)
    except OSError:  # a folder where a variant should be, a failing disk: render it again
        return None
    finally:
        os.close(fd)
    try:
        content_type = sniff_content_type(head[:SNIFF_BYTES])
    except UnsupportedMediaType:  # a torn or foreign file: render it again
        return None
    modified = datetime.fromtimestamp(stat.st_mtime_ns / 1e9, UTC)
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    meta = BlobMeta(key, stat.st_size, content_type, etag, modified)
    return meta, head if whole and len(head) == stat.st_size else None
