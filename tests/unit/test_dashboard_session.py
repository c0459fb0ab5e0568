"""Dashboard sign-in: a random session id in a strict HttpOnly cookie, and its CSRF rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from imagelake.api.session import SESSION_COOKIE
from imagelake.domain.access import Role
from imagelake.domain.images import utcnow
from imagelake.services.api_keys import hash_key
from tests.unit.api_harness import PUBLIC_URL, Api, open_api
from tests.unit.fakes import FakeImageEngine, png

SITE = PUBLIC_URL  # the Origin a browser sends is the public URL
IMAGE_ID = "b9f08c7f-089e-4cbf-ba78-a89a6e586e86"
PHOTO = png(64, 48)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """A browser-like client: no Authorization header, cookies kept between calls."""
    with open_api(tmp_path, FakeImageEngine()) as api:
        api.client.headers.pop("Authorization")
        yield api


def sign_in(api: Api, key: str, **headers: str) -> None:
    reply = api.client.post(
        "/login", data={"key": key, "next": "/"}, headers=headers, follow_redirects=False
    )
    assert reply.status_code == 303, reply.text


@pytest.mark.parametrize("path", ["/", "/upload", "/analytics", f"/view/{IMAGE_ID}"])
def test_pages_send_a_signed_out_visitor_to_sign_in_and_back(api: Api, path: str) -> None:
    reply = api.client.get(path, follow_redirects=False)

    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=" + path.replace("/", "%2F")


def test_signing_in_sets_a_strict_http_only_cookie_holding_a_session_not_the_key(
    api: Api,
) -> None:
    reply = api.client.post(
        "/login", data={"key": f"  {api.token} ", "next": "/upload"}, follow_redirects=False
    )

    assert (reply.status_code, reply.headers["location"]) == (303, "/upload")
    cookie = reply.headers["set-cookie"]
    session = cookie.split(";", 1)[0].removeprefix(f"{SESSION_COOKIE}=")
    assert session.startswith("ils_") and api.token not in cookie
    catalog = api.wired.container.catalog
    assert catalog.find_session(session) is None  # stored hashed only
    stored = catalog.find_session(hash_key(session))
    assert stored is not None and stored.expires_at > utcnow() + timedelta(days=6)
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    page = api.client.get("/upload")
    assert page.status_code == 200
    assert "tester" in page.text
    assert "Sign out" in page.text


def test_the_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    with open_api(tmp_path, FakeImageEngine(), public_url="https://images.example") as api:
        reply = api.client.post("/login", data={"key": api.token}, follow_redirects=False)

    assert "Secure" in reply.headers["set-cookie"]


@pytest.mark.parametrize("key", ["il_wrong", "", "Bearer x"])
def test_a_wrong_key_shows_an_error_and_sets_no_cookie(api: Api, key: str) -> None:
    reply = api.client.post("/login", data={"key": key}, follow_redirects=False)

    assert reply.status_code == 401
    assert "not valid" in reply.text
    assert "set-cookie" not in reply.headers
    assert api.client.get("/", follow_redirects=False).status_code == 303


def test_a_revoked_key_signs_the_browser_out(api: Api) -> None:
    key, token = api.wired.keys.create("leaver")
    sign_in(api, token)
    api.wired.keys.revoke(key.key_id)

    reply = api.client.get("/analytics", follow_redirects=False)

    assert reply.headers["location"] == "/login?next=%2Fanalytics"
    assert f'{SESSION_COOKIE}=""' in reply.headers["set-cookie"]


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_sign_in_never_redirects_off_site(api: Api, target: str) -> None:
    reply = api.client.post(
        "/login", data={"key": api.token, "next": target}, follow_redirects=False
    )

    assert reply.headers["location"] == "/"


@pytest.mark.parametrize("path", ["/login", "/logout"])
def test_forms_posted_from_another_site_are_refused(api: Api, path: str) -> None:
    reply = api.client.post(
        path, data={"key": api.token}, headers={"Origin": "https://evil.example"}
    )

    assert reply.status_code == 403
    assert "set-cookie" not in reply.headers


def test_signing_out_forgets_the_key(api: Api) -> None:
    sign_in(api, api.token, Origin=SITE)

    reply = api.client.post("/logout", headers={"Origin": SITE}, follow_redirects=False)

    assert (reply.status_code, reply.headers["location"]) == (303, "/login")
    assert f'{SESSION_COOKIE}=""' in reply.headers["set-cookie"]
    assert api.client.get("/", follow_redirects=False).status_code == 303
    assert api.client.get("/images").status_code == 401


def test_signing_out_ends_the_session_on_the_server_too(api: Api) -> None:
    sign_in(api, api.token, Origin=SITE)
    stolen = api.client.cookies[SESSION_COOKIE]

    api.client.post("/logout", headers={"Origin": SITE}, follow_redirects=False)
    api.client.cookies.set(SESSION_COOKIE, stolen)  # a copy of the cookie kept elsewhere

    assert api.client.get("/images").status_code == 401
    assert api.client.get("/", follow_redirects=False).status_code == 303


def test_revoking_a_key_ends_its_sessions_on_the_server(api: Api) -> None:
    key, token = api.wired.keys.create("leaver")
    sign_in(api, token)
    session = api.client.cookies[SESSION_COOKIE]

    api.wired.keys.revoke(key.key_id)

    assert api.wired.container.catalog.find_session(hash_key(session)) is None
    assert api.client.get("/images").status_code == 401


def test_an_expired_session_is_refused(api: Api) -> None:
    sign_in(api, api.token)
    catalog = api.wired.container.catalog
    stored = catalog.find_session(hash_key(api.client.cookies[SESSION_COOKIE]))
    assert stored is not None
    catalog.delete_sessions(session_hash=stored.session_hash)
    catalog.add_session(dataclasses.replace(stored, expires_at=utcnow() - timedelta(seconds=1)))

    reply = api.client.get("/images")

    assert reply.status_code == 401
    assert "session has ended" in reply.json()["error"]["message"]


def test_behind_a_proxy_the_origin_must_match_the_public_url(tmp_path: Path) -> None:
    public = "https://images.example"
    with open_api(tmp_path, FakeImageEngine(), public_url=public) as api:
        api.client.headers.pop("Authorization")
        # The proxy passes its upstream Host: the Origin matches the public URL, not it.
        ok = api.client.post("/login", data={"key": api.token}, headers={"Origin": public})
        assert ok.status_code in (200, 303)
        forged = api.client.post(
            "/login", data={"key": api.token}, headers={"Origin": "http://testserver"}
        )
        assert forged.status_code == 403


def test_the_cookie_authenticates_reads_of_the_api(api: Api) -> None:
    sign_in(api, api.token)

    assert api.client.get("/images").status_code == 200


def test_a_cookie_upload_without_the_csrf_header_is_refused_and_stores_nothing(
    api: Api,
) -> None:
    sign_in(api, api.token)

    reply = api.upload(PHOTO)

    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "forbidden"
    assert "X-Requested-With" in reply.json()["error"]["message"]
    assert api.wired.container.catalog.list_images(10, None)[0] == []


def test_a_cookie_upload_with_the_csrf_header_is_accepted(api: Api) -> None:
    sign_in(api, api.token)

    reply = api.client.post(
        "/images",
        content=PHOTO,
        headers={"X-Requested-With": "XMLHttpRequest", "Origin": SITE},
    )

    assert reply.status_code == 201
    assert api.wired.container.catalog.get_image(reply.json()["image_id"]).owner == "tester"


@pytest.mark.parametrize(("method", "path"), [("POST", "/images"), ("DELETE", "/images/x")])
def test_a_cookie_call_from_another_origin_is_refused(api: Api, method: str, path: str) -> None:
    sign_in(api, api.token)

    reply = api.client.request(
        method,
        path,
        content=PHOTO,
        headers={"X-Requested-With": "XMLHttpRequest", "Origin": "https://evil.example"},
    )

    assert reply.status_code == 403
    assert reply.json()["error"]["message"] == "cross-origin request refused"


def test_a_bearer_header_is_used_instead_of_the_cookie(api: Api) -> None:
    sign_in(api, api.token)

    reply = api.client.get("/images", headers={"Authorization": "Bearer il_wrong"})

    assert reply.status_code == 401


def test_with_auth_off_the_pages_need_no_sign_in(tmp_path: Path) -> None:
    with open_api(tmp_path, FakeImageEngine(), auth="off") as api:
        api.client.headers.pop("Authorization")
        gallery = api.client.get("/", follow_redirects=False)
        login = api.client.get("/login", follow_redirects=False)

    assert gallery.status_code == 200
    assert "Sign out" not in gallery.text
    assert (login.status_code, login.headers["location"]) == (303, "/")


def test_each_role_sees_only_the_pages_it_may_use(api: Api) -> None:
    tokens = {role: api.wired.keys.create(f"a-{role}", role=role)[1] for role in Role}
    seen: dict[Role, dict[str, int]] = {}
    for role, token in tokens.items():
        api.client.cookies.clear()
        sign_in(api, token)
        seen[role] = {
            path: api.client.get(path, follow_redirects=False).status_code
            for path in ("/", "/upload", "/analytics")
        }
    assert seen[Role.USER] == {"/": 200, "/upload": 200, "/analytics": 403}
    assert seen[Role.PRODUCER] == {"/": 403, "/upload": 403, "/analytics": 403}
    assert seen[Role.ANALYST] == {"/": 303, "/upload": 403, "/analytics": 200}
    assert seen[Role.ADMIN] == {"/": 200, "/upload": 200, "/analytics": 200}
    api.client.cookies.clear()
    sign_in(api, tokens[Role.USER])
    page = api.client.get("/").text
    assert 'href="/analytics"' not in page and 'href="/upload"' in page
