"""Request statistics, one rule for every catalog: each idempotency key counts once, and the
last requester is the latest (time, user), so a tie on time picks the same user everywhere.

RequestTally owns the contract: repeats of a key in a batch dropped, a batch folded into
one ImageTally per image, NotFound for an image never requested. A backend supplies the
atomic step. One that learns which keys are new inside the transaction that counts them
(a lock, an SQL transaction) extends ClaimingTally with three hooks; DynamoDB learns it
only when its transaction commits, so it writes `_count` itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Generic, TypeVar

from imagelake.domain.errors import NotFound
from imagelake.domain.events import ImageStats, RequestRecord

Tx = TypeVar("Tx")
_TIMESTAMP, _USER, _TZINFO = attrgetter("timestamp"), attrgetter("user_id"), attrgetter("tzinfo")


@dataclass(slots=True)
class ImageTally:
    """What some requests add to one image's stats; times in UTC."""

    image_id: str
    count: int
    first_at: datetime
    last_at: datetime
    last_user_id: str  # of the latest (time, user)
    users: set[str]

    def add(self, other: ImageTally) -> None:
        """Fold a later tally of the same image into this one."""
        self.count += other.count
        self.first_at = min(self.first_at, other.first_at)
        latest = max((self.last_at, self.last_user_id), (other.last_at, other.last_user_id))
        self.last_at, self.last_user_id = latest
        self.users |= other.users

    def stats(self) -> ImageStats:
        return ImageStats(
            self.image_id,
            self.count,
            len(self.users),
            self.first_at,
            self.last_at,
            self.last_user_id,
        )


def tally(records: Iterable[RequestRecord]) -> list[ImageTally]:
    """One tally per image; min and max run in C, and only the extremes are made UTC."""
    by_image: dict[str, list[RequestRecord]] = defaultdict(list)
    for record in records:
        by_image[record.image_id].append(record)
    tallies = []
    for image_id, batch in by_image.items():
        times = list(map(_TIMESTAMP, batch))
        if None in map(_TZINFO, times):  # naive: taken as UTC
            times = [at if at.tzinfo else at.replace(tzinfo=UTC) for at in times]
        users = list(map(_USER, batch))
        last, user = max(zip(times, users, strict=True))
        tallies.append(
            ImageTally(image_id, len(batch), _utc(min(times)), _utc(last), user, set(users))
        )
    return tallies


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is UTC else at.astimezone(UTC)


class RequestTally(ABC):
    """The StatsCatalog half of a catalog, over a backend's `_count` and `_read_stats`."""

    def record_requests(self, records: Sequence[RequestRecord]) -> int:
        batch = list({r.key: r for r in reversed(records)}.values())  # the first of repeats
        return self._count(batch) if batch else 0

    def get_stats(self, image_id: str) -> ImageStats:
        stats = self._read_stats(image_id)
        if stats is None:
            raise NotFound(f"no requests recorded for image {image_id}")
        return stats

    @abstractmethod
    def _count(self, batch: list[RequestRecord]) -> int:
        """Count the records (one per key) whose keys were never counted, all or nothing."""

    @abstractmethod
    def _read_stats(self, image_id: str) -> ImageStats | None: ...


class ClaimingTally(RequestTally, Generic[Tx]):
    """For a store that marks keys seen and adds the new ones' tallies in one transaction."""

    def _count(self, batch: list[RequestRecord]) -> int:
        with self._transaction() as tx:
            new = self._claim_new_keys(tx, batch)
            self._apply(tx, tally(new))
        return len(new)

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Tx]: ...

    @abstractmethod
    def _claim_new_keys(self, tx: Tx, batch: list[RequestRecord]) -> list[RequestRecord]:
        """Mark every key of batch seen; the records whose keys were not seen before."""

    @abstractmethod
    def _apply(self, tx: Tx, tallies: list[ImageTally]) -> None:
        """Add each tally to its image's stats."""
