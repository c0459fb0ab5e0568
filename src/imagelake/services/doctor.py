"""The catalog against the blobs: records without originals, blobs without records, lost thumbnails.

Everything is walked page by page (the catalog) or key by key (the stores): nothing is held
but one page of records and one image's thumbnails at a time.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from itertools import groupby

from imagelake.domain.errors import NotFound
from imagelake.domain.images import Image, ImageStatus, utcnow
from imagelake.ports import BlobStore, Catalog, Queue
from imagelake.services.ingest import thumbnail_job

ORIGINALS = "originals/"
THUMBNAILS = "thumbnails/"
# An upload stores its original a moment before its record: a younger blob may be one.
DEFAULT_GRACE = timedelta(hours=1)


class Problem(StrEnum):
    MISSING_ORIGINAL = "missing_original"  # a record whose original is gone: not repairable
    MISSING_THUMBNAILS = "missing_thumbnails"  # a ready image some of whose thumbnails are gone
    ORPHAN_ORIGINAL = "orphan_original"  # an original that no record names
    ORPHAN_THUMBNAILS = "orphan_thumbnails"  # the thumbnails of an image that does not exist


REPAIRS = {
    Problem.MISSING_ORIGINAL: "",
    Problem.MISSING_THUMBNAILS: "re-queued: back to processing, the workers make them again",
    Problem.ORPHAN_ORIGINAL: "deleted",
    Problem.ORPHAN_THUMBNAILS: "deleted",
}


@dataclass(frozen=True)
class Finding:
    problem: Problem
    image_id: str
    keys: tuple[str, ...]  # the blobs that are missing, or that nothing refers to
    repaired: bool = False


@dataclass
class Checkup:
    """What one run looked at and found; it fills in while the findings are iterated."""

    images: int = 0
    originals: int = 0
    thumbnails: int = 0
    found: Counter[Problem] = field(default_factory=Counter)
    repaired: Counter[Problem] = field(default_factory=Counter)

    def note(self, finding: Finding) -> Finding:
        self.found[finding.problem] += 1
        self.repaired[finding.problem] += finding.repaired
        return finding

    @property
    def unrepaired(self) -> int:
        return sum(self.found.values()) - sum(self.repaired.values())


class DoctorService:
    def __init__(
        self,
        *,
        blobs: BlobStore,
        thumbnails: BlobStore,
        catalog: Catalog,
        jobs: Queue,
        page_size: int = 500,
    ) -> None:
        self._blobs = blobs
        self._thumbnails = thumbnails
        self._catalog = catalog
        self._jobs = jobs
        self._page_size = page_size

    def examine(
        self, checkup: Checkup, *, repair: bool = False, grace: timedelta = DEFAULT_GRACE
    ) -> Iterator[Finding]:
        """Every problem, as it is found (and repaired first, when `repair`)."""
        for finding in self._records(checkup, repair):
            yield checkup.note(finding)
        for finding in self._orphan_originals(checkup, repair, grace):
            yield checkup.note(finding)
        for finding in self._orphan_thumbnails(checkup, repair):
            yield checkup.note(finding)

    def _records(self, checkup: Checkup, repair: bool) -> Iterator[Finding]:
        cursor: str | None = None
        while True:
            page, cursor = self._catalog.list_images(limit=self._page_size, cursor=cursor)
            lost: list[tuple[Image, tuple[str, ...]]] = []
            for image in page:
                checkup.images += 1
                if not _exists(self._blobs, image.original_key):
                    yield Finding(Problem.MISSING_ORIGINAL, image.image_id, (image.original_key,))
                elif image.status == ImageStatus.READY:
                    gone = tuple(
                        key
                        for key in image.thumbnails.values()
                        if not _exists(self._thumbnails, key)
                    )
                    if gone or not image.thumbnails:
                        lost.append((image, gone))
            requeued = self._requeue(image for image, _ in lost) if repair else set()
            for image, gone in lost:
                yield Finding(
                    Problem.MISSING_THUMBNAILS, image.image_id, gone, image.image_id in requeued
                )
            if cursor is None:
                return

    def _requeue(self, images: Iterable[Image]) -> set[str]:
        """Back to processing, and a job for each: the workers remake the thumbnails."""
        requeued = set()
        for image in images:
            processing = dataclasses.replace(image, status=ImageStatus.PROCESSING, thumbnails={})
            try:
                self._catalog.save_image(processing)
            except NotFound:  # deleted meanwhile: nothing to remake
                continue
            requeued.add(image.image_id)
        if requeued:
            self._jobs.send([thumbnail_job(image_id) for image_id in sorted(requeued)])
        return requeued

    def _orphan_originals(
        self, checkup: Checkup, repair: bool, grace: timedelta
    ) -> Iterator[Finding]:
        for key in self._blobs.list(ORIGINALS):
            checkup.originals += 1
            image_id = key.removeprefix(ORIGINALS).rpartition(".")[0]
            record = self._record(image_id)
            if record is not None and record.original_key == key:
                continue
            try:
                if utcnow() - self._blobs.head(key).modified < grace:
                    continue  # maybe an upload that is storing its record right now
            except NotFound:
                continue
            if repair:
                self._blobs.delete(key)
            yield Finding(Problem.ORPHAN_ORIGINAL, image_id, (key,), repair)

    def _orphan_thumbnails(self, checkup: Checkup, repair: bool) -> Iterator[Finding]:
        # Keys come sorted, so each image's thumbnails and variants come together.
        listing = self._thumbnails.list(THUMBNAILS)
        for image_id, each in groupby(listing, lambda key: key[len(THUMBNAILS) :].split("/")[0]):
            keys = tuple(each)
            checkup.thumbnails += len(keys)
            if self._record(image_id) is not None:
                continue
            if repair:
                for key in keys:
                    self._thumbnails.delete(key)
            yield Finding(Problem.ORPHAN_THUMBNAILS, image_id, keys, repair)

    def _record(self, image_id: str) -> Image | None:
        try:
            return self._catalog.get_image(image_id)
        except NotFound:
            return None


def _exists(store: BlobStore, key: str) -> bool:
    path = store.local_path(key)  # a local file: no need to read it as head() does
    if path is not None:
        return path.is_file()
    try:
        store.head(key)
    except NotFound:
        return False
    return True
