"""The dashboard's session cookie (a random session id, never the API key) and its CSRF rules."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from imagelake.domain.errors import Forbidden

SESSION_COOKIE = "imagelake_session"
SESSION_MAX_AGE = 7 * 24 * 3600
CSRF_HEADER = "x-requested-with"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(request: Request, public_url: str = "") -> bool:
    """False only when the browser says the request comes from another site.

    Behind a proxy the Host header is the upstream's: the public URL, when configured,
    is what the browser's Origin must match.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or a same-origin GET; SameSite=Strict covers the rest
    if public_url:
        ours = urlsplit(public_url)
        theirs = urlsplit(origin)
        return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)
    return urlsplit(origin).netloc == request.headers.get("host", "")


def session_token(request: Request, public_url: str = "") -> str | None:
    """The session cookie's token, or None when there is no cookie.

    A cookie rides along on any request the browser makes, so a state-changing call
    must also carry a header that a cross-site form cannot set, and must not come
    from another origin.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    if request.method not in SAFE_METHODS:
        if not request.headers.get(CSRF_HEADER):
            raise Forbidden(
                "a request authenticated by the session cookie must send "
                "'X-Requested-With: XMLHttpRequest' (or use 'Authorization: Bearer KEY')"
            )
        if not same_origin(request, public_url):
            raise Forbidden("cross-origin request refused")
    return token


def set_session(response: Response, request: Request, token: str, public_url: str) -> None:
    secure = request.url.scheme == "https" or public_url.startswith("https://")
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_MAX_AGE,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
