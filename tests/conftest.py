"""Fixtures shared by every test directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """An AWS endpoint for the test session: AWS_ENDPOINT_URL if set, else a moto server."""
    from tests.aws_env import aws_environment  # boto3 only for the tests that use AWS

    with aws_environment() as url:
        yield url
