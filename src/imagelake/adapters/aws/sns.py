"""Notifier on SNS: one publish per notification, its kind as a filterable attribute."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from imagelake.domain.errors import BackendError
from imagelake.ports import Notification

MAX_SUBJECT = 100
# SNS subjects are printable ASCII on one line.
_NOT_SUBJECT = re.compile(r"[^\x20-\x7e]+")


def subject_line(subject: str) -> str:
    ascii_only = unicodedata.normalize("NFKD", subject).encode("ascii", "ignore").decode()
    line = " ".join(_NOT_SUBJECT.sub(" ", ascii_only).split())
    return line[:MAX_SUBJECT].rstrip() or "imagelake"


class SnsNotifier:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._sns = client
        self.topic_arn = topic_arn

    def notify(self, notification: Notification) -> None:
        message = {"message": notification.message, "data": notification.data}
        attributes = {"kind": {"DataType": "String", "StringValue": notification.kind}}
        if notification.recipient:
            # Lets an e-mail subscription filter on its own address.
            attributes["recipient"] = {"DataType": "String", "StringValue": notification.recipient}
        try:
            self._sns.publish(
                TopicArn=self.topic_arn,
                Subject=subject_line(notification.subject),
                Message=json.dumps(message, default=str),
                MessageAttributes=attributes,
            )
        except (ClientError, BotoCoreError) as exc:
            # Whatever SNS says, for the caller the notification channel is down.
            raise BackendError(f"publish to {self.topic_arn}: {exc}") from exc
