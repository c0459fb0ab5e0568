"""`imagelake config`: every setting's value, with its secrets hidden unless asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from imagelake.cli.app import app
from imagelake.cli.settings_view import hide_credentials

SECRETS = {
    "IMAGELAKE_SIGNING_KEY": "current-signing-key",
    "IMAGELAKE_SIGNING_KEYS_PREVIOUS": "old-key-1,old-key-2",
    "SENTRY_DSN": "https://dsn-public-key@o1.ingest.sentry.io/42",
    "IMAGELAKE_NOTIFY": "smtp://mailer:smtp-password@mail.example.com:587?from=a@x.org&to=b@x.org",
    "IMAGELAKE_CATALOG": "postgresql://imagelake:db-password@db:5432/imagelake",
    "IMAGELAKE_QUEUE": "postgresql://imagelake:db-password@db:5432/imagelake?sslmode=require",
}
HIDDEN_TEXT = ("current-signing-key", "old-key", "dsn-public-key", "smtp-password", "db-password")


def run_config(tmp_path: Path, *args: str, **env: str) -> dict[str, str]:
    environment = {"IMAGELAKE_DATA_DIR": str(tmp_path), "IMAGELAKE_CONFIG": "", **env}
    done = CliRunner().invoke(app, ["config", *args], env=environment)
    assert done.exit_code == 0, done.output
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


def test_secrets_are_hidden(tmp_path: Path) -> None:
    shown = run_config(tmp_path, **SECRETS)

    for text in HIDDEN_TEXT:
        assert text not in "\n".join(shown.values())
    assert shown["IMAGELAKE_SIGNING_KEY"] == "***"
    assert shown["IMAGELAKE_SIGNING_KEYS_PREVIOUS"] == "***"
    assert shown["IMAGELAKE_SENTRY_DSN"] == "***"
    assert shown["IMAGELAKE_NOTIFY"] == (
        "smtp://mailer:***@mail.example.com:587?from=a@x.org&to=b@x.org"
    )
    assert shown["IMAGELAKE_CATALOG"] == "postgresql://imagelake:***@db:5432/imagelake"
    assert shown["IMAGELAKE_QUEUE"].endswith(":***@db:5432/imagelake?sslmode=require")
    assert shown["IMAGELAKE_PORT"] == "8000"  # the rest as it is


def test_show_secrets_prints_them(tmp_path: Path) -> None:
    shown = run_config(tmp_path, "--show-secrets", **SECRETS)

    assert shown["IMAGELAKE_SIGNING_KEY"] == "current-signing-key"
    assert shown["IMAGELAKE_SENTRY_DSN"] == SECRETS["SENTRY_DSN"]
    assert shown["IMAGELAKE_NOTIFY"] == SECRETS["IMAGELAKE_NOTIFY"]


def test_unset_secrets_show_as_empty(tmp_path: Path) -> None:
    shown = run_config(tmp_path)

    assert shown["IMAGELAKE_SIGNING_KEY"] == ""
    assert shown["IMAGELAKE_NOTIFY"] == "log://"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "webhook+https://hooks.example.com/in?token=t0k3n&channel=ops",
            "webhook+https://hooks.example.com/in?token=***&channel=ops",
        ),
        (
            "webhook+https://ops:hunter2@hooks.example.com/in",
            "webhook+https://ops:***@hooks.example.com/in",
        ),
        (
            "webhook+https://x.example/h?api_key=k&X-Amz-Signature=s&sig=s2&access_token=a",
            "webhook+https://x.example/h?api_key=***&X-Amz-Signature=***&sig=***&access_token=***",
        ),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("smtp://mail.example.com:25?from=a@x.org", "smtp://mail.example.com:25?from=a@x.org"),
        ("sqlite:///tmp/catalog.db", "sqlite:///tmp/catalog.db"),
    ],
)
def test_credentials_in_urls_are_hidden(url: str, shown: str) -> None:
    assert hide_credentials(url) == shown
