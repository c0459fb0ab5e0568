"""Headers on every response: browsers never sniff a type, and a stored file runs nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.unit.api_harness import Api, open_api
from tests.unit.fakes import FakeImageEngine, png

FILES_CSP = "default-src 'none'; sandbox"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_api(tmp_path, FakeImageEngine()) as api:
        yield api


def test_every_api_response_says_nosniff(api: Api) -> None:
    anonymous = {"Authorization": ""}
    replies = {
        "200": api.client.get("/images"),
        "201": api.upload(png(64, 48)),
        "401": api.client.get("/images", headers=anonymous),
        "404": api.client.get("/images/no-such-image"),
        "405": api.client.put("/images"),
        "415": api.upload(b"plain text"),
        "422": api.client.get("/images", params={"limit": 0}),
        "health": api.client.get("/healthz"),
        "metrics": api.client.get("/metrics"),
        "docs": api.client.get("/docs"),
        "openapi": api.client.get("/openapi.json"),
        "dashboard": api.client.get("/login", headers=anonymous),
    }

    for name, reply in replies.items():
        assert reply.headers.get("x-content-type-options") == "nosniff", name
        assert reply.headers.get("content-security-policy") != FILES_CSP, name
    assert replies["dashboard"].headers.get_list("x-content-type-options") == ["nosniff"]


def test_an_unhandled_error_says_nosniff_too(api: Api) -> None:
    def broken() -> None:
        raise RuntimeError("a bug")

    api.client.app.app.add_api_route("/broken", broken)  # type: ignore[attr-defined]  # under FastDelivery
    with TestClient(api.client.app, raise_server_exceptions=False) as client:
        reply = client.get("/broken")

    assert reply.status_code == 500
    assert reply.headers["x-content-type-options"] == "nosniff"


def files_path(signed_url: str) -> str:
    parts = urlsplit(signed_url)
    return f"{parts.path}?{parts.query}"


def test_files_responses_are_sandboxed(api: Api) -> None:
    url = api.upload(png(64, 48)).json()["original_url"]
    ok = api.fetch(url)
    replies: dict[str, httpx2.Response] = {
        "200": ok,
        "304": api.fetch(url, **{"If-None-Match": ok.headers["etag"]}),
        "403": api.fetch(url[:-1] + ("0" if url[-1] != "0" else "1")),
        "400": api.client.get("/files/..%5Cx?expires=1&signature=00"),
        "HEAD": api.client.head(files_path(url), headers={"Authorization": ""}),
    }

    for name, reply in replies.items():
        assert reply.headers.get("content-security-policy") == FILES_CSP, name
        assert reply.headers.get("x-content-type-options") == "nosniff", name
    assert [r.status_code for r in replies.values()] == [200, 304, 403, 400, 200]
