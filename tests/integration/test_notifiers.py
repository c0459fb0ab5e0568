"""Notification channels against real receivers on loopback: an HTTP server and aiosmtpd."""

from __future__ import annotations

import pytest

from imagelake.adapters.notify.channels import SmtpNotifier, WebhookNotifier
from imagelake.domain.errors import BackendError
from imagelake.ports import Notification
from tests.e2e.service import free_port
from tests.integration.receivers import HttpRecorder, smtp_server

ALERT = Notification(
    subject="imagelake: 1 event(s) dead-lettered on events",
    message="invalid event: not valid JSON",
    data={"queue": "events", "count": 1},
)


def test_the_webhook_posts_the_notification_as_json() -> None:
    with HttpRecorder().running() as hook:
        WebhookNotifier(hook.url + "/hooks/imagelake").notify(ALERT)

    [post] = hook.posts
    assert post.path == "/hooks/imagelake"
    assert post.headers["content-type"] == "application/json"
    assert post.json() == {
        "subject": ALERT.subject,
        "message": ALERT.message,
        "kind": "failure",
        "data": {"queue": "events", "count": 1},
        "recipient": None,
    }


def test_the_webhook_is_retried_after_a_server_error() -> None:
    with HttpRecorder(statuses=[500, 503]).running() as hook:
        WebhookNotifier(hook.url, base_delay=0.01).notify(ALERT)

    assert len(hook.refused) == 2
    assert [p.json()["subject"] for p in hook.posts] == [ALERT.subject]


def test_the_webhook_gives_up_after_its_attempts() -> None:
    with (
        HttpRecorder(statuses=[500] * 3).running() as hook,
        pytest.raises(BackendError, match="3 attempts: HTTP 500"),
    ):
        WebhookNotifier(hook.url, attempts=3, base_delay=0.01).notify(ALERT)

    assert len(hook.refused) == 3


def test_a_webhook_that_refuses_the_request_is_not_retried() -> None:
    with (
        HttpRecorder(statuses=[404]).running() as hook,
        pytest.raises(BackendError, match="HTTP 404"),
    ):
        WebhookNotifier(hook.url, base_delay=0.01).notify(ALERT)

    assert len(hook.refused) == 1


def test_an_unreachable_webhook_is_a_backend_error() -> None:
    notifier = WebhookNotifier(f"http://127.0.0.1:{free_port()}/", attempts=2, base_delay=0.01)

    with pytest.raises(BackendError, match="2 attempts"):
        notifier.notify(ALERT)


def test_smtp_mails_the_configured_address() -> None:
    with smtp_server() as (url, mails):
        SmtpNotifier.from_url(f"{url}?from=imagelake@example.com&to=ops@example.com").notify(ALERT)

    [(recipients, mail)] = mails
    assert recipients == ["ops@example.com"]
    assert mail["From"] == "imagelake@example.com"
    assert mail["Subject"] == ALERT.subject
    body = mail.get_content()
    assert ALERT.message in body
    assert '"count": 1' in body


def test_smtp_mails_the_notifications_own_recipient_first() -> None:
    ready = Notification("ready", "your image is ready", "info", recipient="alice@example.com")

    with smtp_server() as (url, mails):
        SmtpNotifier.from_url(f"{url}?to=ops@example.com").notify(ready)

    assert [recipients for recipients, _ in mails] == [["alice@example.com"]]


def test_smtp_without_any_recipient_sends_nothing() -> None:
    with smtp_server() as (url, mails):
        SmtpNotifier.from_url(url).notify(ALERT)

    assert mails == []


def test_an_unreachable_mail_server_is_a_backend_error() -> None:
    notifier = SmtpNotifier.from_url(f"smtp://127.0.0.1:{free_port()}?to=ops@example.com")

    with pytest.raises(BackendError, match=r"ops@example\.com"):
        notifier.notify(ALERT)
