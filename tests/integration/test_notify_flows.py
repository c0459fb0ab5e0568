"""Notifications from a running `imagelake serve`: thumbnail-ready notices, dead-letter alerts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.service import Service
from tests.integration.receivers import HttpRecorder, smtp_server, wait_until
from tests.photos import photo_bytes

URL = re.compile(r"https?://\S+/d/\S+")  # a delivery link, counted for the owner


@contextmanager
def serving(data_dir: Path, **env: str) -> Iterator[Service]:
    service = Service(data_dir, extra_env=env, workers=1).start()
    try:
        yield service
    finally:
        service.stop()


def upload_as(service: Service, token: str) -> str:
    with service.client(token) as client:
        created = client.post(
            "/images", content=photo_bytes(), headers={"content-type": "image/jpeg"}
        )
    assert created.status_code == 201, created.text
    image_id: str = created.json()["image_id"]
    return image_id


def assert_is_a_thumbnail_link(url: str) -> None:
    fetched = httpx.get(url, timeout=30)  # signed: no API key needed
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/jpeg"
    assert fetched.content.startswith(b"\xff\xd8")


def test_with_notify_on_all_the_uploader_gets_a_thumbnail_ready_mail(tmp_path: Path) -> None:
    with smtp_server() as (smtp, mails):
        notify = f"{smtp}?from=imagelake@example.com&to=ops@example.com"
        with serving(tmp_path, IMAGELAKE_NOTIFY=notify, IMAGELAKE_NOTIFY_ON="all") as service:
            alice = service.create_key("alice", email="alice@example.com")
            image_id = upload_as(service, alice)

            recipients, mail = wait_until(
                lambda: mails[0] if mails else None, what="the ready mail"
            )

            assert recipients == ["alice@example.com"]
            assert image_id in str(mail["Subject"])
            body = mail.get_content()
            assert image_id in body
            match = URL.search(body)
            assert match, body
            assert_is_a_thumbnail_link(match.group(0))


def test_a_user_without_an_email_leaves_the_ready_mail_to_the_default_address(
    tmp_path: Path,
) -> None:
    with smtp_server() as (smtp, mails):
        notify = f"{smtp}?to=ops@example.com"
        with serving(tmp_path, IMAGELAKE_NOTIFY=notify, IMAGELAKE_NOTIFY_ON="all") as service:
            image_id = upload_as(service, service.key)

            recipients, mail = wait_until(
                lambda: mails[0] if mails else None, what="the ready mail"
            )

    assert recipients == ["ops@example.com"]
    assert image_id in mail.get_content()


def test_with_notify_on_all_the_webhook_gets_the_thumbnail_ready_notice(tmp_path: Path) -> None:
    with HttpRecorder().running() as hook:
        notify = f"webhook+{hook.url}/imagelake"
        with serving(tmp_path, IMAGELAKE_NOTIFY=notify, IMAGELAKE_NOTIFY_ON="all") as service:
            alice = service.create_key("alice", email="alice@example.com")
            image_id = upload_as(service, alice)

            post = wait_until(
                lambda: hook.posts[0] if hook.posts else None, what="the ready notice"
            )

            notice = post.json()
            assert notice["kind"] == "info"
            assert notice["recipient"] == "alice@example.com"
            assert notice["data"]["image_id"] == image_id
            assert_is_a_thumbnail_link(notice["data"]["url"])


def test_by_default_only_failures_are_notified(tmp_path: Path) -> None:
    with (
        HttpRecorder().running() as hook,
        serving(tmp_path, IMAGELAKE_NOTIFY=f"webhook+{hook.url}/") as service,
    ):
        service.wait_for(upload_as(service, service.key))
        sent = service.cli("events", "send", "-", stdin=b"this is not an event")
        assert sent.returncode == 0, sent.stderr

        post = wait_until(lambda: hook.posts[0] if hook.posts else None, what="the alert")

    assert [p.json()["kind"] for p in hook.posts] == ["failure"]
    assert post.json()["data"]["dead_letters"][0]["body"] == "this is not an event"


def test_dead_letters_are_mailed_to_the_operators(tmp_path: Path) -> None:
    with (
        smtp_server() as (smtp, mails),
        serving(tmp_path, IMAGELAKE_NOTIFY=f"{smtp}?to=ops@example.com") as service,
    ):
        sent = service.cli("events", "send", "-", stdin=b'{"event_name": "NOPE"}')
        assert sent.returncode == 0, sent.stderr

        recipients, mail = wait_until(lambda: mails[0] if mails else None, what="the alert mail")

    assert recipients == ["ops@example.com"]
    assert "dead-lettered" in str(mail["Subject"])
    assert "NOPE" in mail.get_content()
