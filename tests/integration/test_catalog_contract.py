"""The Catalog contract, run over every backend in conftest.CATALOGS."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from imagelake.adapters.embedded.sqlite_catalog import SqliteCatalog
from imagelake.domain.errors import InvalidInput, NotFound
from imagelake.domain.events import RequestRecord
from imagelake.domain.images import ApiKey, DashboardSession, Image, ImageStatus, new_image_id
from imagelake.ports import Catalog

T0 = datetime(2021, 7, 11, 9, 17, 13, 123456, tzinfo=UTC)


def make_image(n: int, created_at: datetime = T0, **changes: Any) -> Image:
    image = Image(
        image_id=new_image_id(),
        sha256=hashlib.sha256(str(n).encode()).hexdigest(),
        content_type="image/jpeg",
        width=640,
        height=480,
        bytes=1000 + n,
        created_at=created_at,
        owner="user-1",
    )
    return dataclasses.replace(image, **changes)


def request(key: str, image_id: str, user_id: str, minute: int) -> RequestRecord:
    return RequestRecord(key, image_id, user_id, T0 + timedelta(minutes=minute))


def test_add_then_get_round_trips_every_field(catalog: Catalog) -> None:
    image = make_image(1, status=ImageStatus.READY, thumbnails={128: "t/1/128.jpg"})

    assert catalog.add_image(image) == image
    assert catalog.get_image(image.image_id) == image
    assert catalog.get_image(image.image_id).created_at.utcoffset() == timedelta(0)


def test_times_in_other_zones_come_back_as_utc(catalog: Catalog) -> None:
    local = T0.astimezone(timezone(timedelta(hours=-5)))
    image = catalog.add_image(make_image(1, created_at=local))

    stored = catalog.get_image(image.image_id)

    assert stored.created_at == T0
    assert stored.created_at.utcoffset() == timedelta(0)


def test_same_content_of_one_owner_is_stored_once(catalog: Catalog) -> None:
    first = catalog.add_image(make_image(1))
    duplicate = make_image(1)

    assert catalog.add_image(duplicate) == first
    assert catalog.find_by_sha256("user-1", first.sha256) == first
    with pytest.raises(NotFound):
        catalog.get_image(duplicate.image_id)


def test_same_content_of_two_owners_is_two_images(catalog: Catalog) -> None:
    mine = catalog.add_image(make_image(1))
    theirs = make_image(1, owner="user-2")

    assert catalog.add_image(theirs) == theirs
    assert catalog.find_by_sha256("user-1", mine.sha256) == mine
    assert catalog.find_by_sha256("user-2", mine.sha256) == theirs
    assert catalog.find_by_sha256("user-3", mine.sha256) is None

    catalog.delete_image(mine.image_id)  # the other owner's copy is untouched
    assert catalog.get_image(theirs.image_id) == theirs
    assert catalog.find_by_sha256("user-1", mine.sha256) is None
    assert catalog.add_image(make_image(1, image_id=mine.image_id)).owner == "user-1"


def test_listing_by_owner_shows_only_that_owners_images(catalog: Catalog) -> None:
    mine = [catalog.add_image(make_image(n, T0 + timedelta(seconds=n))) for n in range(5)]
    theirs = [
        catalog.add_image(make_image(n, T0 + timedelta(seconds=n), owner="user-2"))
        for n in range(3)
    ]
    seen: list[Image] = []
    cursor = None
    while True:
        page, cursor = catalog.list_images(2, cursor, owner="user-1")
        seen.extend(page)
        if cursor is None:
            break

    assert seen == list(reversed(mine))
    assert catalog.list_images(10, None, owner="user-2")[0] == list(reversed(theirs))
    assert catalog.list_images(10, None, owner="nobody") == ([], None)
    assert len(catalog.list_images(10, None)[0]) == 8  # no owner: everyone's


def test_unknown_image_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound):
        catalog.get_image(new_image_id())
    assert catalog.find_by_sha256("user-1", "0" * 64) is None


def test_save_updates_an_image(catalog: Catalog) -> None:
    image = catalog.add_image(make_image(1))
    ready = image.ready({128: "thumbnails/x/128.jpg", 256: "thumbnails/x/256.jpg"})

    catalog.save_image(ready)

    assert catalog.get_image(image.image_id) == ready
    failed = ready.failed("decoder crashed")
    catalog.save_image(failed)
    assert catalog.get_image(image.image_id).failure_reason == "decoder crashed"


def test_save_of_a_deleted_image_is_not_found(catalog: Catalog) -> None:
    image = catalog.add_image(make_image(1))
    catalog.delete_image(image.image_id)

    with pytest.raises(NotFound):
        catalog.save_image(image.ready({}))
    with pytest.raises(NotFound):
        catalog.get_image(image.image_id)
    with pytest.raises(NotFound):
        catalog.delete_image(image.image_id)
    assert catalog.find_by_sha256(image.owner, image.sha256) is None


def test_pages_cover_every_image_once_newest_first(catalog: Catalog) -> None:
    images = [make_image(n, created_at=T0 + timedelta(seconds=n % 5)) for n in range(11)]
    for image in images:
        catalog.add_image(image)
    expected = sorted(images, key=lambda i: (i.created_at, i.image_id), reverse=True)

    seen: list[Image] = []
    page, cursor = catalog.list_images(3, None)
    seen += page
    while cursor is not None:
        page, cursor = catalog.list_images(3, cursor)
        seen += page

    assert [i.image_id for i in seen] == [i.image_id for i in expected]


def test_empty_catalog_lists_nothing(catalog: Catalog) -> None:
    assert catalog.list_images(10, None) == ([], None)


@pytest.mark.parametrize(
    "cursor",
    ["not a cursor!", "Zm9v", base64.urlsafe_b64encode(b"yesterday|x").decode(), "\x00"],
)
def test_bad_cursor_is_invalid_input(catalog: Catalog, cursor: str) -> None:
    catalog.add_image(make_image(1))

    with pytest.raises(InvalidInput):
        catalog.list_images(10, cursor)


def test_images_with_status(catalog: Catalog) -> None:
    waiting = [catalog.add_image(make_image(n)) for n in range(3)]
    catalog.save_image(waiting[1].ready({}))

    found = catalog.images_with_status(ImageStatus.PROCESSING, 10)

    assert sorted(i.image_id for i in found) == sorted([waiting[0].image_id, waiting[2].image_id])
    assert len(catalog.images_with_status(ImageStatus.PROCESSING, 1)) == 1
    assert catalog.images_with_status(ImageStatus.FAILED, 10) == []


def test_api_keys_add_find_list_revoke(catalog: Catalog) -> None:
    key = ApiKey("key-1", "hash-1", "user-1", T0, email="a@example.com")
    other = ApiKey("key-2", "hash-2", "user-2", T0 + timedelta(days=1), role="analyst")
    catalog.add_key(key)
    catalog.add_key(other)

    assert catalog.find_key("hash-1") == key
    assert catalog.find_key("no-such-hash") is None
    assert catalog.list_keys() == [key, other]

    assert catalog.revoke_key("key-1") == dataclasses.replace(key, revoked=True)

    found = catalog.find_key("hash-1")
    assert found is not None and found.revoked
    assert catalog.find_key("hash-2") == other
    with pytest.raises(NotFound):
        catalog.revoke_key("no-such-key")


def test_roles_are_kept_with_their_keys(catalog: Catalog) -> None:
    for n, role in enumerate(("user", "producer", "analyst", "admin")):
        catalog.add_key(ApiKey(f"key-{n}", f"hash-{n}", f"user-{n}", T0, role=role))

    assert [k.role for k in catalog.list_keys()] == ["user", "producer", "analyst", "admin"]
    found = catalog.find_key("hash-1")
    assert found is not None and found.role == "producer"


def test_sessions_add_find_and_end_one_or_all_of_a_key(catalog: Catalog) -> None:
    later = T0 + timedelta(days=7)
    one = DashboardSession("s-1", "hash-1", T0, later)
    two = DashboardSession("s-2", "hash-1", T0, later)
    other = DashboardSession("s-3", "hash-2", T0, later)
    for session in (one, two, other):
        catalog.add_session(session)

    assert catalog.find_session("s-1") == one
    assert catalog.find_session("no-such-session") is None
    assert catalog.delete_sessions(session_hash="s-1") == 1
    assert catalog.find_session("s-1") is None
    assert catalog.find_session("s-2") == two
    assert catalog.delete_sessions(key_hash="hash-1") == 1
    assert catalog.find_session("s-2") is None
    assert catalog.find_session("s-3") == other


def test_record_requests_counts_each_key_once_ever(catalog: Catalog) -> None:
    image_id = new_image_id()
    batch = [request("e1", image_id, "u1", 0), request("e2", image_id, "u2", 1)]

    assert catalog.record_requests(batch) == 2
    assert catalog.record_requests(batch) == 0
    assert catalog.record_requests([*batch, request("e3", image_id, "u1", 2)]) == 1

    stats = catalog.get_stats(image_id)
    assert (stats.request_count, stats.unique_users) == (3, 2)


def test_duplicate_keys_within_a_batch_count_once(catalog: Catalog) -> None:
    image_id = new_image_id()
    record = request("e1", image_id, "u1", 0)

    assert catalog.record_requests([record, record, record]) == 1
    assert catalog.get_stats(image_id).request_count == 1
    assert catalog.record_requests([]) == 0


def test_last_user_is_who_requested_latest_whatever_the_arrival_order(catalog: Catalog) -> None:
    image_id = new_image_id()
    catalog.record_requests([request("e3", image_id, "late", 30), request("e1", image_id, "u1", 5)])
    catalog.record_requests([request("e2", image_id, "early", 0)])
    catalog.record_requests([request("e4", image_id, "middle", 10)])

    stats = catalog.get_stats(image_id)

    assert stats.last_user_id == "late"
    assert stats.first_requested_at == T0
    assert stats.last_requested_at == T0 + timedelta(minutes=30)
    assert (stats.request_count, stats.unique_users) == (4, 4)


def test_stats_are_kept_per_image(catalog: Catalog) -> None:
    one, two = new_image_id(), new_image_id()
    records = [request(f"e{n}", one if n % 3 else two, f"u{n % 4}", n) for n in range(30)]

    assert catalog.record_requests(records) == 30

    assert catalog.get_stats(one).request_count == 20
    assert catalog.get_stats(two).request_count == 10
    assert catalog.get_stats(one).unique_users == 4
    assert catalog.get_stats(two).last_user_id == "u3"  # n=27 is the latest for image two
    with pytest.raises(NotFound):
        catalog.get_stats(new_image_id())


# SqliteCatalog specifics: several instances (processes) on one file.


def test_two_sqlite_catalogs_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    first, second = SqliteCatalog(tmp_path / "c.db"), SqliteCatalog(tmp_path / "c.db")
    try:
        image = first.add_image(make_image(1))
        assert second.get_image(image.image_id) == image
        assert second.add_image(make_image(1)) == image
        second.delete_image(image.image_id)
        with pytest.raises(NotFound):
            first.get_image(image.image_id)
    finally:
        first.close()
        second.close()


def test_a_sqlite_batch_of_several_lookup_chunks_is_counted_once(tmp_path: Path) -> None:
    catalog = SqliteCatalog(tmp_path / "c.db")
    image_id = new_image_id()
    records = [request(f"e{n}", image_id, f"u{n % 10}", n) for n in range(2500)]
    try:
        assert catalog.record_requests(records) == 2500
        assert catalog.record_requests(records[::-1]) == 0
        stats = catalog.get_stats(image_id)
        assert (stats.request_count, stats.unique_users, stats.last_user_id) == (2500, 10, "u9")
    finally:
        catalog.close()


def test_concurrent_sqlite_catalogs_count_each_event_once(tmp_path: Path) -> None:
    image_id = new_image_id()
    records = [request(f"e{n}", image_id, f"u{n % 7}", n) for n in range(400)]
    catalogs = [SqliteCatalog(tmp_path / "c.db") for _ in range(4)]
    counted: list[int] = []

    def work(catalog: Catalog, offset: int) -> None:
        # Every worker sees every record, in overlapping batches: a redelivery storm.
        for start in range(offset, len(records) + offset, 50):
            counted.append(catalog.record_requests(records[start % 400 : start % 400 + 60]))

    threads = [threading.Thread(target=work, args=(c, n * 25)) for n, c in enumerate(catalogs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sum(counted) == 400
        stats = catalogs[0].get_stats(image_id)
        assert (stats.request_count, stats.unique_users) == (400, 7)
        assert stats.last_user_id == f"u{399 % 7}"
    finally:
        for catalog in catalogs:
            catalog.close()


def test_a_catalog_from_before_owners_dedupes_per_owner_and_keeps_its_admin(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "catalog.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE images (
            image_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, content_type TEXT NOT NULL,
            width INTEGER NOT NULL, height INTEGER NOT NULL, bytes INTEGER NOT NULL,
            created_at TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
            failure_reason TEXT, thumbnails TEXT NOT NULL);
        CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
            created_at TEXT NOT NULL, email TEXT, revoked INTEGER NOT NULL DEFAULT 0);
        INSERT INTO api_keys VALUES ('k1', 'h1', 'admin', '2021-07-11T09:17:13.000000+00:00',
            NULL, 0);
        INSERT INTO api_keys VALUES ('k2', 'h2', 'alice', '2021-07-11T09:17:14.000000+00:00',
            NULL, 0);
        """
    )
    image = make_image(1)
    old.execute(
        "INSERT INTO images VALUES (?, ?, 'image/jpeg', 640, 480, ?, ?, 'user-1', "
        "'processing', NULL, '{}')",
        (image.image_id, image.sha256, image.bytes, image.created_at.isoformat()),
    )
    old.commit()
    old.close()

    catalog = SqliteCatalog(path)
    assert [(k.user_id, k.role) for k in catalog.list_keys()] == [
        ("admin", "admin"),
        ("alice", "user"),
    ]
    assert catalog.get_image(image.image_id) == image
    theirs = make_image(1, owner="user-2")
    assert catalog.add_image(theirs) == theirs
