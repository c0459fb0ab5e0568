"""Fixtures shared by every test directory."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.moto_server import MotoServer

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,  # an explicit profile would win over the keys above
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": None,
}


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """An AWS endpoint for the test session: AWS_ENDPOINT_URL if set, else a moto server."""
    from imagelake.adapters.aws import clients as aws_clients

    touched = ["AWS_ENDPOINT_URL", *AWS_TEST_ENV]
    saved = {name: os.environ.get(name) for name in touched}
    server: MotoServer | None = None
    url = os.environ.get("AWS_ENDPOINT_URL", "")
    if not url:
        server = MotoServer()
        url = server.start()
        os.environ["AWS_ENDPOINT_URL"] = url
        for name, value in AWS_TEST_ENV.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    else:
        for name, value in AWS_TEST_ENV.items():
            if value is not None:
                os.environ.setdefault(name, value)
    aws_clients.client.cache_clear()
    try:
        yield url
    finally:
        aws_clients.client.cache_clear()
        if server is not None:
            server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
