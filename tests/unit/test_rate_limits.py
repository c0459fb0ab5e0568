"""Rate limits: requests per API key, and failed authentications per client address."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from pydantic import ValidationError

from imagelake.config import Settings
from tests.unit.api_harness import Api, open_api
from tests.unit.fakes import FakeImageEngine


def assert_throttled(reply: httpx2.Response, within: int) -> None:
    assert reply.status_code == 429, reply.text
    assert reply.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(reply.headers["retry-after"]) <= within


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def second_key(api: Api) -> str:
    _, token = api.wired.keys.create("other")
    return token


def test_a_key_over_its_rate_gets_429_with_retry_after(tmp_path: Path) -> None:
    with open_api(tmp_path, FakeImageEngine(), rate_limit="3/minute") as api:
        served = [api.client.get("/images").status_code for _ in range(3)]
        throttled = api.client.get("/images")
        other = api.client.get("/images", headers=bearer(second_key(api)))

    assert served == [200, 200, 200]
    assert_throttled(throttled, within=60)
    assert "3 per 1 minute" in throttled.json()["error"]["message"]
    assert other.status_code == 200  # each key has its own allowance


def test_an_address_guessing_keys_is_throttled_before_authentication(tmp_path: Path) -> None:
    with open_api(tmp_path, FakeImageEngine(), rate_limit="3/minute") as api:
        guesses = [
            api.client.get("/images", headers=bearer(f"guess-{n}")).status_code for n in range(3)
        ]
        next_guess = api.client.get("/images", headers=bearer("guess-3"))
        even_a_good_key = api.client.get("/images")

    assert guesses == [401, 401, 401]
    assert_throttled(next_guess, within=60)
    assert_throttled(even_a_good_key, within=60)


def test_the_dashboard_sign_in_is_throttled_the_same_way(tmp_path: Path) -> None:
    with open_api(tmp_path, FakeImageEngine(), rate_limit="2/minute") as api:
        api.client.headers.pop("Authorization")
        guesses = [
            api.client.post("/login", data={"key": f"guess-{n}"}).status_code for n in range(2)
        ]
        throttled = api.client.post("/login", data={"key": api.token}, follow_redirects=False)

    assert guesses == [401, 401]
    assert_throttled(throttled, within=60)


def test_requests_with_a_valid_key_do_not_count_against_the_address(tmp_path: Path) -> None:
    with open_api(tmp_path, FakeImageEngine(), rate_limit="3/minute") as api:
        for token in (api.token, second_key(api), second_key(api)):
            for _ in range(3):
                assert api.client.get("/images", headers=bearer(token)).status_code == 200


def test_an_empty_rate_limit_turns_limits_off(tmp_path: Path) -> None:
    with open_api(tmp_path, FakeImageEngine(), rate_limit="") as api:
        assert {api.client.get("/images").status_code for _ in range(30)} == {200}


def test_a_malformed_rate_limit_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="rate limit"):
        Settings(data_dir=tmp_path, rate_limit="fast please")
