"""The one-machine shape: local files, SQLite catalog and queue, libvips, DuckDB.

Factories import their module when called, so choosing a backend loads only its libraries.
"""

from __future__ import annotations

from imagelake.adapters.urls import local_path, signer_of
from imagelake.ports import (
    BackendSpec,
    BlobStore,
    Catalog,
    Factory,
    ImageEngine,
    LakeEngine,
    Queue,
)


def _files(spec: BackendSpec) -> BlobStore:
    from imagelake.adapters.embedded.files import LocalBlobStore

    return LocalBlobStore(local_path(spec.url), spec.base_url, signer_of(spec))


def _sqlite_catalog(spec: BackendSpec) -> Catalog:
    from imagelake.adapters.embedded.sqlite_catalog import SqliteCatalog

    return SqliteCatalog(local_path(spec.url))


def _sqlite_queue(spec: BackendSpec) -> Queue:
    from imagelake.adapters.embedded.sqlite_queue import SqliteQueue

    return SqliteQueue(local_path(spec.url), spec.name)


def _vips(spec: BackendSpec) -> ImageEngine:
    from imagelake.adapters.embedded.vips import VipsEngine

    return VipsEngine(spec.max_pixels, spec.engine_threads)


def _duckdb(spec: BackendSpec) -> LakeEngine:
    from imagelake.adapters.embedded.duckdb_engine import DuckDBEngine

    return DuckDBEngine()


BLOB_STORES: dict[str, Factory[BlobStore]] = {"file": _files}
CATALOGS: dict[str, Factory[Catalog]] = {"sqlite": _sqlite_catalog}
QUEUES: dict[str, Factory[Queue]] = {"sqlite": _sqlite_queue}
IMAGE_ENGINES: dict[str, Factory[ImageEngine]] = {"vips": _vips}
LAKE_ENGINES: dict[str, Factory[LakeEngine]] = {"duckdb": _duckdb}
