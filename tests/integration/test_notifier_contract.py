"""The Notifier contract, run over every notifier against a real far end where it has one.

Each backend in CHANNELS gives the notifier and a reader of what reached its far end, and
says which Notification fields its channel carries: the reader returns exactly those, and
every test compares them all. What a channel leaves out is declared there, never skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any

import boto3
import pytest
from botocore.config import Config

from imagelake.adapters.aws.clients import client, region
from imagelake.adapters.aws.sns import SnsNotifier, subject_line
from imagelake.adapters.memory import RecordingNotifier
from imagelake.adapters.notify.channels import LogNotifier, SmtpNotifier, WebhookNotifier
from imagelake.domain.errors import BackendError
from imagelake.ports import Notification, Notifier
from tests.aws_env import receive_raw, subscribe_queue, topic_arn, unique_name
from tests.integration.receivers import HttpRecorder, smtp_server
from tests.moto_server import free_port

Fields = dict[str, Any]  # the Notification fields one delivery carried, by name
EVERY_FIELD = frozenset({"subject", "message", "kind", "data", "recipient"})
HOOK_PATH = "/hooks/imagelake"
SENDER, OPERATORS = "imagelake@example.com", "ops@example.com"
NOTIFY_LOG = "imagelake.notify"


def as_is(subject: str) -> str:
    return subject


@dataclass(frozen=True)
class Channel:
    notifier: Notifier
    # The first `count` deliveries, waiting for them where delivery is asynchronous.
    delivered: Callable[[int], list[Fields]]
    carries: frozenset[str]
    sent_subject: Callable[[str], str] = as_is  # what the channel makes of a subject


@contextmanager
def recorded(request: pytest.FixtureRequest) -> Iterator[Channel]:
    notifier = RecordingNotifier()
    yield Channel(notifier, lambda count: [asdict(n) for n in notifier.sent], EVERY_FIELD)


@contextmanager
def logged(request: pytest.FixtureRequest) -> Iterator[Channel]:
    """One log line "subject: message"; the kind is its level; data and recipient are left out."""
    caplog: pytest.LogCaptureFixture = request.getfixturevalue("caplog")
    caplog.set_level(logging.INFO, logger=NOTIFY_LOG)
    kinds = {logging.WARNING: "failure", logging.INFO: "info"}

    def delivered(count: int) -> list[Fields]:
        lines = [r for r in caplog.records if r.name == NOTIFY_LOG]
        # The arguments, not the line: a subject may hold ": " itself.
        args = [r.args for r in lines if isinstance(r.args, tuple)]
        assert len(args) == len(lines), "a notification was logged without its arguments"
        return [
            {"subject": subject, "message": message, "kind": kinds[r.levelno]}
            for r, (subject, message) in zip(lines, args, strict=True)
        ]

    yield Channel(LogNotifier(), delivered, frozenset({"subject", "message", "kind"}))


@contextmanager
def posted(request: pytest.FixtureRequest) -> Iterator[Channel]:
    """The whole notification as a JSON POST."""
    with HttpRecorder().running() as hook:

        def delivered(count: int) -> list[Fields]:
            for post in hook.posts:
                assert post.path == HOOK_PATH
                assert post.headers["content-type"] == "application/json"
            return [post.json() for post in hook.posts]

        yield Channel(WebhookNotifier(hook.url + HOOK_PATH), delivered, EVERY_FIELD)


def read_mail(recipients: list[str], mail: EmailMessage) -> Fields:
    """The subject; the body is the message with the data below it as JSON. A notification
    without a recipient goes to the channel's own address (OPERATORS), read back as None."""
    assert mail["From"] == SENDER
    (recipient,) = recipients
    assert mail["To"] == recipient
    body = mail.get_content().replace("\r\n", "\n").removesuffix("\n")
    message, data = body, {}
    head, _, tail = body.rpartition("\n\n")
    if head and tail.startswith("{"):
        message, data = head, json.loads(tail)
    return {
        "subject": str(mail["Subject"]),
        "message": message,
        "data": data,
        "recipient": None if recipient == OPERATORS else recipient,
    }


@contextmanager
def mailed(request: pytest.FixtureRequest) -> Iterator[Channel]:
    """An e-mail; SMTP has no place for the kind."""
    with smtp_server() as (url, mails):
        notifier = SmtpNotifier.from_url(f"{url}?from={SENDER}&to={OPERATORS}")
        yield Channel(
            notifier,
            lambda count: [read_mail(recipients, mail) for recipients, mail in mails],
            frozenset({"subject", "message", "data", "recipient"}),
        )


def read_sns(body: str) -> Fields:
    """SNS's envelope: our JSON {message, data} as its Message, kind and recipient as
    message attributes (recipient only when there is one)."""
    envelope = json.loads(body)
    published = json.loads(envelope["Message"])
    attributes = envelope.get("MessageAttributes", {})
    return {
        "subject": envelope["Subject"],
        "message": published["message"],
        "data": published["data"],
        "kind": attributes["kind"]["Value"],
        "recipient": attributes.get("recipient", {}).get("Value"),
    }


@contextmanager
def published(request: pytest.FixtureRequest) -> Iterator[Channel]:
    """An SNS topic with an SQS queue subscribed: the queue receives what any subscriber
    would. SNS subjects are one line of printable ASCII, so the subject arrives as
    subject_line() makes it."""
    request.getfixturevalue("aws_endpoint")
    topic = client("sns").create_topic(Name=unique_name("contract-topic"))["TopicArn"]
    inbox = unique_name("contract-inbox")
    subscribe_queue(topic, inbox)
    yield Channel(
        SnsNotifier(client("sns"), topic),
        lambda count: [read_sns(m["Body"]) for m in receive_raw(inbox, count)],
        EVERY_FIELD,
        sent_subject=subject_line,
    )


CHANNELS: dict[str, Callable[[pytest.FixtureRequest], AbstractContextManager[Channel]]] = {
    "memory": recorded,
    "log": logged,
    "webhook": posted,
    "smtp": mailed,
    "sns": published,
}


def dead_webhook() -> tuple[Notifier, str]:
    return WebhookNotifier(f"http://127.0.0.1:{free_port()}/", 2, base_delay=0.01), "2 attempts"


def dead_smtp() -> tuple[Notifier, str]:
    return SmtpNotifier.from_url(f"smtp://127.0.0.1:{free_port()}?to={OPERATORS}"), OPERATORS


def dead_sns() -> tuple[Notifier, str]:
    sns = boto3.client(
        "sns",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name=region(),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(connect_timeout=1, retries={"total_max_attempts": 1}),
    )
    topic = topic_arn("alerts")
    return SnsNotifier(sns, topic), topic


# Each backend with a far end, pointed at a port nobody listens on: the notifier, and what
# its error must name.
UNREACHABLE: dict[str, Callable[[], tuple[Notifier, str]]] = {
    "webhook": dead_webhook,
    "smtp": dead_smtp,
    "sns": dead_sns,
}
# The log and the memory adapter have no far end that could be down.
IN_PROCESS = {"memory", "log"}


@pytest.fixture(params=list(CHANNELS))
def channel(request: pytest.FixtureRequest) -> Iterator[Channel]:
    with CHANNELS[request.param](request) as channel:
        yield channel


def expected(channel: Channel, *sent: Notification) -> list[Fields]:
    """What the channel should deliver of each notification: every field it carries."""
    fields = [asdict(n) | {"subject": channel.sent_subject(n.subject)} for n in sent]
    return [{name: f[name] for name in channel.carries} for f in fields]


ALERT = Notification(
    subject="imagelake: 1 event(s) dead-lettered on events",
    message="invalid event: not valid JSON",
    data={"queue": "events", "count": 1, "reasons": ["not valid JSON"]},
)
READY = Notification(
    subject="imagelake: image ready",
    message="your image b9f08c7f is ready",
    kind="info",
    data={"image_id": "b9f08c7f-089e-4cbf-ba78-a89a6e586e86"},
    recipient="alice@example.com",
)


def test_every_channel_carries_at_least_the_subject_and_the_message(channel: Channel) -> None:
    assert {"subject", "message"} <= channel.carries <= EVERY_FIELD


def test_a_failure_alert_arrives_intact(channel: Channel) -> None:
    channel.notifier.notify(ALERT)

    assert channel.delivered(1) == expected(channel, ALERT)


def test_an_info_notice_for_a_recipient_arrives_intact(channel: Channel) -> None:
    channel.notifier.notify(READY)

    assert channel.delivered(1) == expected(channel, READY)


def test_a_notice_without_data_arrives_intact(channel: Channel) -> None:
    bare = Notification("imagelake: hello", "no details")

    channel.notifier.notify(bare)

    assert channel.delivered(1) == expected(channel, bare)


def test_unicode_survives(channel: Channel) -> None:
    text = Notification(
        subject="Vorschau fertig: Größe 🙂 日本",
        message="Ünïcødé ✓ — naïve café\nzweite Zeile: 日本語",
        kind="info",
        data={"name": "café ☕.jpg", "tags": ["größe", "日本"]},
        recipient="bob@example.com",
    )

    channel.notifier.notify(text)

    assert channel.delivered(1) == expected(channel, text)


def test_each_notification_is_delivered_once(channel: Channel) -> None:
    channel.notifier.notify(ALERT)
    channel.notifier.notify(READY)

    def key(fields: Fields) -> str:
        return json.dumps(fields, sort_keys=True)

    delivered = sorted(channel.delivered(2), key=key)
    assert delivered == sorted(expected(channel, ALERT, READY), key=key)


def test_every_backend_either_has_a_far_end_or_is_in_process() -> None:
    assert set(UNREACHABLE) | IN_PROCESS == set(CHANNELS)
    assert not set(UNREACHABLE) & IN_PROCESS


@pytest.mark.parametrize("backend", list(UNREACHABLE))
def test_an_unreachable_backend_is_our_backend_error(backend: str) -> None:
    notifier, named = UNREACHABLE[backend]()

    with pytest.raises(BackendError) as raised:
        notifier.notify(ALERT)

    assert named in str(raised.value)
