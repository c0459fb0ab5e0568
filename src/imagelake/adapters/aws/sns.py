"""Notifier on SNS: one publish per notification, its kind as a filterable attribute."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from imagelake.adapters.aws.clients import aws_errors
from imagelake.domain.errors import BackendError, ConfigError
from imagelake.ports import Notification

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

MAX_SUBJECT = 100
# SNS subjects are printable ASCII on one line.
_NOT_SUBJECT = re.compile(r"[^\x20-\x7e]+")


def subject_line(subject: str) -> str:
    ascii_only = unicodedata.normalize("NFKD", subject).encode("ascii", "ignore").decode()
    line = " ".join(_NOT_SUBJECT.sub(" ", ascii_only).split())
    return line[:MAX_SUBJECT].rstrip() or "imagelake"


class SnsNotifier:
    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._sns = client
        self.topic_arn = topic_arn

    def provision(self) -> list[str]:
        """Create the topic (idempotent); say what was done."""
        parts = self.topic_arn.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[5]:
            raise ConfigError(f"IMAGELAKE_NOTIFY: {self.topic_arn!r} is not an SNS topic ARN")
        name = parts[5]
        with aws_errors(f"create sns topic {name}"):
            created = self._sns.create_topic(Name=name)["TopicArn"]
        if created == self.topic_arn:
            return [f"sns topic {created}: ready"]
        return [f"sns topic {name}: is {created}, but IMAGELAKE_NOTIFY says {self.topic_arn}"]

    def notify(self, notification: Notification) -> None:
        message = {"message": notification.message, "data": notification.data}
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "kind": {"DataType": "String", "StringValue": notification.kind}
        }
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
