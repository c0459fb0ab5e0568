"""The settings as `imagelake config` prints them: secrets hidden unless asked for."""

from __future__ import annotations

import re

from imagelake.config import Settings

HIDDEN = "***"
# The password of a URL's user:password@ (SMTP, PostgreSQL, webhooks with basic auth).
_URL_PASSWORD = re.compile(r"(?P<user>[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)[^@/?#\s]+(?=@)", re.I)
# A query parameter whose name says it carries a credential (?token=, &api_key=, &sig=).
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&;][\w.-]*(?:token|key|secret|passw|pwd|sig|auth|credential)[\w.-]*=)[^&#\s]+",
    re.I,
)


def hide_credentials(text: str) -> str:
    """`text` with the passwords and tokens of the URLs in it replaced by ***."""
    text = _URL_PASSWORD.sub(rf"\g<user>{HIDDEN}", text)
    return _QUERY_SECRET.sub(rf"\g<name>{HIDDEN}", text)


def is_secret(name: str) -> bool:
    extra = Settings.model_fields[name].json_schema_extra
    return isinstance(extra, dict) and extra.get("secret") is True


def shown_settings(settings: Settings, show_secrets: bool = False) -> dict[str, str]:
    """Every setting's value as text; secret ones as ***, credentials in URLs hidden."""
    shown = {}
    for name, value in settings.model_dump().items():
        text = str(value)
        if text and not show_secrets:
            text = HIDDEN if is_secret(name) else hide_credentials(text)
        shown[name] = text
    return shown
