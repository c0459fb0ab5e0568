"""In-memory backends (`memory://`): real, thread-safe code that passes every contract suite."""

from __future__ import annotations

from imagelake.adapters.memory.blobs import MemoryBlobStore
from imagelake.adapters.memory.catalog import MemoryCatalog
from imagelake.adapters.memory.notifier import RecordingNotifier
from imagelake.adapters.memory.queue import MemoryQueue
from imagelake.adapters.urls import signer_of
from imagelake.ports import BackendSpec, BlobStore, Catalog, Factory, Notifier, Queue

__all__ = ["MemoryBlobStore", "MemoryCatalog", "MemoryQueue", "RecordingNotifier"]


def _blobs(spec: BackendSpec) -> MemoryBlobStore:
    return MemoryBlobStore(spec.base_url, signer_of(spec))


BLOB_STORES: dict[str, Factory[BlobStore]] = {"memory": _blobs}
CATALOGS: dict[str, Factory[Catalog]] = {"memory": lambda spec: MemoryCatalog()}
QUEUES: dict[str, Factory[Queue]] = {"memory": lambda spec: MemoryQueue(spec.name)}
NOTIFIERS: dict[str, Factory[Notifier]] = {"memory": lambda spec: RecordingNotifier()}
