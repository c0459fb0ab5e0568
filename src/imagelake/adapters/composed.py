"""A Catalog put together from parts: images here, keys and stats in their own objects.

The SQLite and DynamoDB catalogs keep keys (and dashboard sessions) and request stats in
separate modules; this base forwards those calls, so each catalog writes only its images.
"""

from __future__ import annotations

from collections.abc import Sequence

from imagelake.domain.events import ImageStats, RequestRecord
from imagelake.domain.images import ApiKey, DashboardSession
from imagelake.ports import KeyCatalog, StatsCatalog


class ComposedCatalog:
    _keys: KeyCatalog
    _stats: StatsCatalog

    def add_key(self, key: ApiKey) -> None:
        self._keys.add_key(key)

    def find_key(self, key_hash: str) -> ApiKey | None:
        return self._keys.find_key(key_hash)

    def list_keys(self) -> list[ApiKey]:
        return self._keys.list_keys()

    def revoke_key(self, key_id: str) -> ApiKey:
        return self._keys.revoke_key(key_id)

    def add_session(self, session: DashboardSession) -> None:
        self._keys.add_session(session)

    def find_session(self, session_hash: str) -> DashboardSession | None:
        return self._keys.find_session(session_hash)

    def delete_sessions(
        self, *, session_hash: str | None = None, key_hash: str | None = None
    ) -> int:
        return self._keys.delete_sessions(session_hash=session_hash, key_hash=key_hash)

    def record_requests(self, records: Sequence[RequestRecord]) -> int:
        return self._stats.record_requests(records)

    def get_stats(self, image_id: str) -> ImageStats:
        return self._stats.get_stats(image_id)
