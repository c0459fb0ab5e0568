"""One factory per backend and port; every contract test runs once per entry in BACKENDS.

To add a backend: append its name to BACKENDS and register a factory in each dict below.
A factory takes (tmp_path, request) -- request gives access to other fixtures, such as
an emulator -- and returns a fresh, empty adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from imagelake.adapters.local import LocalBlobStore
from imagelake.adapters.memory import MemoryBlobStore, MemoryCatalog, MemoryQueue
from imagelake.adapters.sqlite_catalog import SqliteCatalog
from imagelake.adapters.sqlite_queue import SqliteQueue
from imagelake.domain.signing import Signer
from imagelake.ports import BlobStore, Catalog, Queue

BACKENDS = ["memory", "embedded"]
# Stores whose signed URLs are HMAC links that SIGNER can verify.
HMAC_SIGNED_BACKENDS = ["memory", "embedded"]

BASE_URL = "http://imagelake.test"
SIGNER = Signer(b"current-secret", (b"previous-secret",))
QUEUE_NAME = "contract"

T = TypeVar("T")
Factory = Callable[[Path, pytest.FixtureRequest], T]

BLOB_STORES: dict[str, Factory[BlobStore]] = {
    "memory": lambda tmp_path, request: MemoryBlobStore(BASE_URL, SIGNER),
    "embedded": lambda tmp_path, request: LocalBlobStore(tmp_path / "blobs", BASE_URL, SIGNER),
}

CATALOGS: dict[str, Factory[Catalog]] = {
    "memory": lambda tmp_path, request: MemoryCatalog(),
    "embedded": lambda tmp_path, request: SqliteCatalog(tmp_path / "catalog.db"),
}

QUEUES: dict[str, Factory[Queue]] = {
    "memory": lambda tmp_path, request: MemoryQueue(QUEUE_NAME),
    "embedded": lambda tmp_path, request: SqliteQueue(tmp_path / "queue.db", QUEUE_NAME),
}


@pytest.fixture(params=BACKENDS)
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return BLOB_STORES[request.param](tmp_path, request)


@pytest.fixture(params=HMAC_SIGNED_BACKENDS)
def hmac_blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return BLOB_STORES[request.param](tmp_path, request)


@pytest.fixture(params=BACKENDS)
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    adapter = CATALOGS[request.param](tmp_path, request)
    yield adapter
    adapter.close()


@pytest.fixture(params=BACKENDS)
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Queue]:
    adapter = QUEUES[request.param](tmp_path, request)
    yield adapter
    adapter.close()


@pytest.fixture
def signer() -> Signer:
    return SIGNER


@pytest.fixture
def base_url() -> str:
    return BASE_URL
