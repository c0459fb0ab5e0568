"""Notification channels of the embedded shape: log, webhook and SMTP e-mail."""

from __future__ import annotations

import json
import logging
import smtplib
import time
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from imagelake.domain.errors import BackendError, ConfigError
from imagelake.ports import Notification

log = logging.getLogger("imagelake.notify")


def _payload(n: Notification) -> dict[str, object]:
    return {
        "subject": n.subject,
        "message": n.message,
        "kind": n.kind,
        "data": n.data,
        "recipient": n.recipient,
    }


class LogNotifier:
    def notify(self, notification: Notification) -> None:
        level = logging.WARNING if notification.kind == "failure" else logging.INFO
        log.log(level, "%s: %s", notification.subject, notification.message)


class WebhookNotifier:
    """POSTs the notification as JSON; retried with backoff on network errors and 5xx."""

    def __init__(self, url: str, attempts: int = 3, base_delay: float = 0.5) -> None:
        self._url = url
        self._attempts = attempts
        self._base_delay = base_delay

    def notify(self, notification: Notification) -> None:
        last = ""
        body = json.dumps(_payload(notification), default=str).encode()
        headers = {"content-type": "application/json"}
        for attempt in range(self._attempts):
            try:
                reply = httpx.post(self._url, content=body, headers=headers, timeout=10)
                if reply.status_code < 500:
                    if reply.status_code >= 400:
                        raise BackendError(f"webhook refused: HTTP {reply.status_code}")
                    return
                last = f"HTTP {reply.status_code}"
            except httpx.HTTPError as exc:
                last = str(exc)
            if attempt + 1 < self._attempts:
                time.sleep(self._base_delay * 2**attempt)
        raise BackendError(f"webhook failed after {self._attempts} attempts: {last}")


class SmtpNotifier:
    """smtp://[user:pass@]host:port?from=ADDR&to=ADDR[&starttls=1]"""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        to: str | None,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
    ) -> None:
        self._host, self._port = host, port
        self._sender, self._to = sender, to
        self._username, self._password = username, password
        self._starttls = starttls

    @classmethod
    def from_url(cls, url: str) -> SmtpNotifier:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if not parts.hostname:
            raise ConfigError(f"smtp notifier needs a host: {url!r}")
        return cls(
            host=parts.hostname,
            port=parts.port or 25,
            sender=query.get("from", "imagelake@localhost"),
            to=query.get("to"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=query.get("starttls") in ("1", "true", "yes"),
        )

    def notify(self, notification: Notification) -> None:
        recipient = notification.recipient or self._to
        if not recipient:
            log.info("no e-mail recipient for %r; not sent", notification.subject)
            return
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self._sender, recipient, notification.subject
        body = notification.message
        if notification.data:
            body += "\n\n" + json.dumps(notification.data, indent=2, default=str)
        mail.set_content(body)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=10) as smtp:
                if self._starttls:
                    smtp.starttls()
                if self._username and self._password:
                    smtp.login(self._username, self._password)
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise BackendError(f"e-mail to {recipient} failed: {exc}") from exc
