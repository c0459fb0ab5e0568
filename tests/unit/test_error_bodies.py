"""No error body carries a server path: a backend's words stay in the log, behind an id."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from imagelake.api import errors
from imagelake.domain.errors import BackendError, ConfigError, InvalidInput

TMP = tempfile.gettempdir()
SECRET_PATH = f"{TMP}/imagelake-query-abc123/fresh.jsonl"


def raise_wrapped() -> None:
    try:
        open(f"{TMP}/imagelake-data/blobs/events/raw/no/such.jsonl", "rb")  # noqa: SIM115
    except OSError as exc:
        raise BackendError(f"cannot read blob 'events/raw/no/such.jsonl': {exc}") from exc


def raise_inside_except() -> None:
    try:
        raise ValueError(SECRET_PATH)
    except ValueError as exc:
        raise BackendError(f"lake query: {exc}")  # noqa: B904 - implicit chaining, on purpose


def raising(exc: Exception) -> Callable[[], None]:
    def route() -> None:
        raise exc

    return route


ROUTES: dict[str, Callable[[], None]] = {
    "/wrapped": raise_wrapped,
    "/implicitly-chained": raise_inside_except,
    "/own-words": raising(BackendError("thumbnails not ready after 60 s; poll GET /images/abc")),
    "/own-words-with-a-path": raising(BackendError(f"the lake cache {TMP}/lake-cache is full")),
    "/config": raising(ConfigError(f"cannot open {SECRET_PATH}")),
    "/bad-input": raising(InvalidInput(f"no such file {SECRET_PATH}")),
    "/unhandled": raising(RuntimeError(SECRET_PATH)),
}


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    errors.install(app)
    for path, fail in ROUTES.items():
        app.add_api_route(path, fail)
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("path", ROUTES)
def test_no_error_body_names_a_server_path(client: TestClient, path: str) -> None:
    reply = client.get(path)

    assert reply.status_code >= 400
    assert TMP not in reply.text
    assert "imagelake-" not in reply.text
    assert reply.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/wrapped", "/implicitly-chained", "/config", "/unhandled"])
def test_a_backends_words_are_logged_under_the_id_the_client_gets(
    client: TestClient, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="imagelake.api.errors"):
        reply = client.get(path)

    message = reply.json()["error"]["message"]
    match = re.search(r"error id ([0-9a-f]{8})", message)
    assert match, message
    [record] = [r for r in caplog.records if match[1] in r.getMessage()]
    assert TMP in record.getMessage() or TMP in str(record.exc_info)


def test_our_own_words_reach_the_client(client: TestClient) -> None:
    reply = client.get("/own-words")

    assert reply.status_code == 503
    assert reply.json()["error"] == {
        "code": "backend_error",
        "message": "thumbnails not ready after 60 s; poll GET /images/abc",
    }


def test_a_path_in_our_own_words_is_left_out(client: TestClient) -> None:
    message = client.get("/own-words-with-a-path").json()["error"]["message"]

    assert message == "the lake cache <server path> is full"
