"""The dashboard: server-rendered pages over the same services as the API, signed in by cookie."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from imagelake import __version__
from imagelake.api import dashboard_views as views
from imagelake.api.deps import ANONYMOUS, ServicesDep
from imagelake.api.rate_limits import client_address, rate_limits
from imagelake.api.session import SESSION_COOKIE, clear_session, same_origin, set_session
from imagelake.bootstrap import Services
from imagelake.domain.access import Action, may, sees_all_stats
from imagelake.domain.errors import InvalidInput, NotFound, Unauthorized
from imagelake.domain.images import ApiKey

HERE = Path(__file__).parent
PAGE_SIZE = 24
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

# Scripts and styles only from imagelake itself; images may be signed URLs on another host (S3).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data: blob: https: http:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def install(app: FastAPI) -> None:
    """Add the pages and the /static files to the app."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    context = {"version": __version__, **context}
    caller = context.get("caller")
    if isinstance(caller, ApiKey):
        context["can"] = {
            "images": may(caller, Action.READ_IMAGES),
            "upload": may(caller, Action.UPLOAD),
            "analytics": sees_all_stats(caller),
        }
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=SECURITY_HEADERS
    )


def signed_in(request: Request, services: Services) -> ApiKey | None:
    if services.settings.auth == "off":
        return ANONYMOUS
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        with rate_limits(request).authenticating(client_address(request)):
            return services.keys.session_key(token)
    except Unauthorized:
        return None


def not_for(request: Request, caller: ApiKey, what: str) -> HTMLResponse:
    """The page a key whose role may not see this page gets (the API answers 403 likewise)."""
    message = f"A {caller.role} key may not {what}."
    context = {"caller": caller, "title": "Not for this key", "message": message}
    return render(request, "error.html", context, status_code=403)


def to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    clear_session(response)  # a revoked key's cookie is of no further use
    return response


def local_path(target: str) -> str:
    """Only redirect within this site after sign-in."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def refused(request: Request) -> HTMLResponse:
    message = "This form was sent from another site; it was refused."
    return render(request, "error.html", {"title": "Refused", "message": message}, 403)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, services: ServicesDep, next: str = "/") -> Response:
    if signed_in(request, services) is not None:
        return RedirectResponse(local_path(next), status_code=303)
    return render(request, "login.html", {"next": local_path(next), "error": None})


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    services: ServicesDep,
    key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not same_origin(request, services.settings.public_url):
        return refused(request)
    target = local_path(next)
    try:
        with rate_limits(request).authenticating(client_address(request)):
            _, token = services.keys.open_session(f"Bearer {key.strip()}")
    except Unauthorized:
        error = "That API key is not valid, or it has been revoked."
        context = {"next": target, "error": error}
        return render(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    set_session(response, request, token, services.settings.public_url)
    return response


@router.post("/logout")
def logout(request: Request, services: ServicesDep) -> Response:
    if not same_origin(request, services.settings.public_url):
        return refused(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services.keys.end_session(token)  # revoked here, not only forgotten by the browser
    response = RedirectResponse("/login", status_code=303)
    clear_session(response)
    return response


@router.get("/", response_class=HTMLResponse)
def gallery(request: Request, services: ServicesDep, cursor: str | None = None) -> Response:
    caller = signed_in(request, services)
    if caller is None:
        return to_login(request)
    if not may(caller, Action.READ_IMAGES):
        if sees_all_stats(caller):
            return RedirectResponse("/analytics", status_code=303)
        return not_for(request, caller, Action.READ_IMAGES)
    try:
        images, next_cursor = services.images.list(caller, PAGE_SIZE, cursor)
    except InvalidInput:
        return RedirectResponse("/", status_code=303)  # a stale or mangled cursor
    ttl = services.images.ttl(None)
    user = caller.user_id
    cards = [views.card(image, services.images.urls(image, ttl, user)) for image in images]
    context = {
        "caller": caller,
        "page": "gallery",
        "cards": cards,
        "next_cursor": next_cursor,
        "first_page": cursor is None,
    }
    return render(request, "gallery.html", context)


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, services: ServicesDep) -> Response:
    caller = signed_in(request, services)
    if caller is None:
        return to_login(request)
    if not may(caller, Action.UPLOAD):
        return not_for(request, caller, Action.UPLOAD)
    max_bytes = services.settings.max_upload_bytes
    context = {
        "caller": caller,
        "page": "upload",
        "max_bytes": max_bytes,
        "max_size": views.human_bytes(max_bytes),
    }
    return render(request, "upload.html", context)


@router.get("/view/{image_id}", response_class=HTMLResponse)
def image_page(request: Request, services: ServicesDep, image_id: str) -> Response:
    caller = signed_in(request, services)
    if caller is None:
        return to_login(request)
    if not may(caller, Action.READ_IMAGES):
        return not_for(request, caller, Action.READ_IMAGES)
    try:
        image = services.images.get(image_id, caller)
    except NotFound:
        context = {"caller": caller, "title": "Not found", "message": "There is no such image."}
        return render(request, "error.html", context, status_code=404)
    urls = services.images.urls(image, services.images.ttl(None), caller.user_id)
    try:
        stats = services.images.stats(image.image_id, caller)
    except NotFound:
        stats = None  # never requested yet
    sizes = services.settings.thumbnail_spec.sizes
    context = {"caller": caller, "page": "image", "d": views.detail(image, urls, sizes, stats)}
    return render(request, "image.html", context)


@router.get("/analytics", response_class=HTMLResponse)
def analytics_page(request: Request, services: ServicesDep) -> Response:
    caller = signed_in(request, services)
    if caller is None:
        return to_login(request)
    if not sees_all_stats(caller):
        return not_for(request, caller, "see the analytics of every image")
    return render(request, "analytics.html", {"caller": caller, "page": "analytics"})
