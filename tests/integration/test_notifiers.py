"""What the webhook and SMTP channels do beyond the Notifier contract (test_notifier_contract.py):
retries, refusals, a mail with nowhere to go. Real receivers on loopback."""

from __future__ import annotations

import pytest

from imagelake.adapters.notify.channels import SmtpNotifier, WebhookNotifier
from imagelake.domain.errors import BackendError
from imagelake.ports import Notification
from tests.integration.receivers import HttpRecorder, smtp_server

ALERT = Notification(
    subject="imagelake: 1 event(s) dead-lettered on events",
    message="invalid event: not valid JSON",
    data={"queue": "events", "count": 1},
)


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


def test_smtp_without_any_recipient_sends_nothing() -> None:
    with smtp_server() as (url, mails):
        SmtpNotifier.from_url(url).notify(ALERT)

    assert mails == []
