"""IMAGELAKE_AUTH=off is for one person on loopback: `serve` warns, and refuses other hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagelake.config import Settings
from imagelake.domain.errors import ConfigError
from imagelake.runtime.serve import auth_off_warning

LOOPBACK = ["127.0.0.1", "127.0.0.53", "::1", "localhost"]
ELSEWHERE = ["0.0.0.0", "::", "192.168.1.5", "example.com"]


def settings(tmp_path: Path, host: str, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path, host=host, **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", LOOPBACK + ELSEWHERE)
def test_with_auth_on_there_is_nothing_to_say(tmp_path: Path, host: str) -> None:
    assert auth_off_warning(settings(tmp_path, host)) is None


@pytest.mark.parametrize("host", LOOPBACK)
def test_auth_off_on_loopback_is_a_warning(tmp_path: Path, host: str) -> None:
    warning = auth_off_warning(settings(tmp_path, host, auth="off"))

    assert warning is not None and "IMAGELAKE_AUTH=off" in warning


@pytest.mark.parametrize("host", ELSEWHERE)
def test_auth_off_elsewhere_is_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError, match="IMAGELAKE_ALLOW_INSECURE=1") as refused:
        auth_off_warning(settings(tmp_path, host, auth="off"))

    assert host in str(refused.value)


@pytest.mark.parametrize("host", ELSEWHERE)
def test_allow_insecure_turns_the_refusal_into_a_warning(tmp_path: Path, host: str) -> None:
    warning = auth_off_warning(settings(tmp_path, host, auth="off", allow_insecure=True))

    assert warning is not None and host in warning
