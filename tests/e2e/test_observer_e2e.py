"""The observer of a running service: producers, the consumer, the lake, the CLI, over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import httpx

from tests.e2e.observer import (
    archive_files,
    archive_lines,
    dead_letters,
    new_id,
    request_event,
    wait_for_count,
    wait_for_dead_letters,
)
from tests.e2e.service import Service
from tests.photos import photo_bytes

PRETTY = """{
  "event_name": "IMAGE_REQUESTED", "user_id": "42",
  "image_id": "%s",
  "timestamp": "2021-07-11T09:17:13+00:00"
}
"""


def test_a_fetch_is_counted_for_the_user_the_link_was_minted_for_with_its_variant(
    service: Service,
) -> None:
    with service.client() as client:
        created = client.post(
            "/images", content=photo_bytes(), headers={"content-type": "image/jpeg"}
        )
        image_id = created.json()["image_id"]
        service.wait_for(image_id)

        reply = client.get(
            f"/images/{image_id}/download",
            params={"size": "128", "user_id": "42"},  # the owner's app, for its user 42
            headers={"X-User-Id": "mallory"},  # a header names nobody
            follow_redirects=False,
        )
        assert reply.status_code == 302
        fetched = httpx.get(reply.headers["location"], timeout=30)
        assert fetched.status_code == 200
        stats = wait_for_count(client, image_id, 1)
        assert client.delete(f"/images/{image_id}").status_code == 204

    assert stats["last_user_id"] == "42"
    assert stats["unique_users"] == 1
    lines = [line for line in archive_lines(service) if line["image_id"] == image_id]
    [requested] = [line for line in lines if line["event_name"] == "IMAGE_REQUESTED"]
    assert requested["user_id"] == "42"
    assert requested["variant"] == json.loads(requested["raw"])["variant"]
    assert requested["variant"] == "128x128-inside-q82.jpg"
    assert {line["event_name"] for line in lines} >= {
        "IMAGE_UPLOADED",
        "THUMBNAIL_CREATED",
        "IMAGE_REQUESTED",
    }


def test_post_events_takes_one_event_or_an_array(service: Service) -> None:
    image_id = new_id()
    single = (PRETTY % image_id).encode()
    many = [request_event(image_id, user_id=str(n)) for n in range(3)]
    with service.client() as client:
        one = client.post("/events", content=single, headers={"content-type": "application/json"})
        three = client.post("/events", json=many)
        assert (one.status_code, one.json()) == (202, {"accepted": 1})
        assert (three.status_code, three.json()) == (202, {"accepted": 3})

        stats = wait_for_count(client, image_id, 4)

    assert stats["unique_users"] == 4
    raws = [line["raw"].encode() for line in archive_lines(service)]
    assert single in raws  # the pretty-printed bytes, exactly


def test_malformed_json_is_400_and_queues_nothing(service: Service) -> None:
    with service.client() as client:
        reply = client.post("/events", content=b'{"event_name": "IMAGE_REQUESTED",')

    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_input"
    assert "malformed JSON" in reply.json()["error"]["message"]


def test_an_array_with_invalid_items_is_422_naming_each_and_queues_nothing(
    service: Service,
) -> None:
    refused_image, marker_image = new_id(), new_id()
    items: list[object] = [
        request_event(refused_image),
        {"event_name": "IMAGE_REQUESTED", "image_id": refused_image},
        request_event(refused_image),
        request_event(refused_image, timestamp="yesterday"),
    ]
    with service.client() as client:
        reply = client.post("/events", json=items)
        too_many = client.post("/events", json=[request_event(refused_image)] * 1001)
        # A later event is counted, so the refused ones would have been by now.
        assert client.post("/events", json=request_event(marker_image)).status_code == 202
        wait_for_count(client, marker_image, 1)
        unknown = client.get(f"/images/{refused_image}/stats")

    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "invalid_event"
    assert [d["index"] for d in error["details"]] == [1, 3]
    assert "user_id" in error["details"][0]["reason"]
    assert "timestamp" in error["details"][1]["reason"]
    assert too_many.status_code == 422
    assert "1000" in too_many.json()["error"]["message"]
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"


def test_events_send_puts_raw_files_on_the_queue_and_garbage_is_dead_lettered(
    service: Service, tmp_path: Path
) -> None:
    image_id = new_id()
    pretty = tmp_path / "event.json"
    pretty.write_text(PRETTY % image_id)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01 not an event")

    sent = service.cli("events", "send", str(pretty), str(garbage))
    assert sent.returncode == 0, sent.stderr
    with service.client() as client:
        wait_for_count(client, image_id, 1)
    [dead] = wait_for_dead_letters(service, 1)

    assert pretty.read_bytes() in [line["raw"].encode() for line in archive_lines(service)]
    assert dead["reason"].startswith("invalid event: not valid JSON")
    assert dead["body"] == "\x00\x01 not an event"
    assert dead["attempts"] == 1

    replayed = service.cli("dlq", "replay", dead["id"])
    assert replayed.returncode == 0, replayed.stderr
    [again] = wait_for_dead_letters(service, 1)
    assert again["id"] != dead["id"]  # it went round the queue and failed the same way
    assert again["body"] == dead["body"]

    assert service.cli("events", "send", "-", stdin=b"more garbage").returncode == 0
    wait_for_dead_letters(service, 2)
    assert service.cli("dlq", "replay", "--all").returncode == 0
    wait_for_dead_letters(service, 2)
    purged = service.cli("dlq", "purge")
    assert purged.returncode == 0
    assert "purged 2" in purged.stderr.decode()
    assert dead_letters(service) == []


def test_the_archive_is_a_hive_layout_that_duckdb_queries_by_field(service: Service) -> None:
    image_id = new_id()
    events = [
        request_event(image_id, user_id="ann", referrer="https://example.com/a"),
        request_event(image_id, user_id="bob", timestamp="2021-07-11T12:30:00+02:00"),
        request_event(image_id, user_id="bob", timestamp="2021-07-11T12:30:00+02:00"),  # a repeat
    ]
    with service.client() as client:
        for event in events:
            assert client.post("/events", json=event).status_code == 202
        wait_for_count(client, image_id, 2)

    lake = service.data_dir / "blobs" / "events" / "raw"
    relative = {str(path.relative_to(lake).parent) for path in archive_files(service)}
    assert "event_name=IMAGE_REQUESTED/dt=2021-07-11/hour=09" in relative
    assert "event_name=IMAGE_REQUESTED/dt=2021-07-11/hour=10" in relative
    rows = duckdb.execute(
        f"""
        SELECT hour, user_id, count(*) AS lines, count(DISTINCT key) AS events,
               any_value(json_extract_string(raw, '$.referrer')) AS referrer
        FROM read_json_auto('{lake}/*/*/*/*.jsonl', hive_partitioning = true)
        WHERE image_id = '{image_id}' AND event_name = 'IMAGE_REQUESTED' AND dt = '2021-07-11'
        GROUP BY ALL ORDER BY hour
        """
    ).fetchall()

    assert rows == [("09", "ann", 1, 1, "https://example.com/a"), ("10", "bob", 2, 1, None)]


def test_stats_of_an_image_nobody_requested_are_404(service: Service) -> None:
    with service.client() as client:
        reply = client.get(f"/images/{new_id()}/stats")

    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"
