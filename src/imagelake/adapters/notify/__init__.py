"""Notification channels any shape can use: the log, a webhook, SMTP e-mail."""

from __future__ import annotations

from imagelake.adapters.notify.channels import LogNotifier, SmtpNotifier, WebhookNotifier
from imagelake.ports import BackendSpec, Factory, Notifier


def _webhook(spec: BackendSpec) -> Notifier:
    return WebhookNotifier(spec.url.removeprefix("webhook+"))


NOTIFIERS: dict[str, Factory[Notifier]] = {
    "log": lambda spec: LogNotifier(),
    "webhook+http": _webhook,
    "webhook+https": _webhook,
    "smtp": lambda spec: SmtpNotifier.from_url(spec.url),
}
