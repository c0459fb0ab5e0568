"""The dashboard's server-rendered pages, over the in-memory adapters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagelake.api import dashboard_views as views
from imagelake.api.routes_dashboard import PAGE_SIZE
from imagelake.domain.access import Role
from imagelake.domain.images import Image, ImageStatus
from tests.unit.api_harness import PUBLIC_URL, Api, open_api
from tests.unit.fakes import FakeImageEngine, png

STATIC = Path(views.__file__).parent / "static"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """Signed in the way a browser is: by the session cookie alone."""
    with open_api(tmp_path, FakeImageEngine(), role=Role.ADMIN) as api:
        api.client.headers.pop("Authorization")
        api.client.post("/login", data={"key": api.token}, follow_redirects=False)
        yield api


def upload(api: Api, data: bytes) -> str:
    reply = api.client.post("/images", content=data, headers={"X-Requested-With": "fetch"})
    assert reply.status_code == 201, reply.text
    image_id: str = reply.json()["image_id"]
    return image_id


def cards(html: str) -> list[str]:
    return re.findall(r'class="card" data-image-id="([0-9a-f-]+)"', html)


def test_the_gallery_pages_through_every_image_newest_first(api: Api) -> None:
    ids = [upload(api, png(60, 40, seed=i)) for i in range(PAGE_SIZE + 1)]

    first = api.client.get("/")
    older = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert older is not None
    second = api.client.get(older.group(1).replace("&amp;", "&"))

    assert cards(first.text) == ids[::-1][:PAGE_SIZE]
    assert cards(second.text) == ids[:1]
    assert 'rel="next"' not in second.text
    assert "« Newest" in second.text


def test_a_processing_image_is_a_placeholder_and_a_ready_one_a_lazy_signed_thumbnail(
    api: Api,
) -> None:
    image_id = upload(api, png(451, 300))
    before = api.client.get("/").text
    api.drain()
    after = api.client.get("/").text

    assert "Processing…" in before
    assert 'data-status="processing"' in before
    img = re.search(r"<img src=\"([^\"]+)\" srcset=\"([^\"]+)\"[^>]*loading=\"lazy\"", after)
    assert img is not None
    assert img.group(1).startswith(f"{PUBLIC_URL}/d/{image_id}?w=256&amp;h=256&amp;")
    assert f"/d/{image_id}?w=512&amp;h=512&amp;" in img.group(2)
    assert "Processing…" not in after


def test_an_empty_gallery_invites_an_upload(api: Api) -> None:
    page = api.client.get("/")

    assert "No images yet" in page.text
    assert 'href="/upload"' in page.text


def test_a_mangled_cursor_goes_back_to_the_first_page(api: Api) -> None:
    reply = api.client.get("/?cursor=not-a-cursor", follow_redirects=False)

    assert (reply.status_code, reply.headers["location"]) == (303, "/")


def test_the_image_page_offers_counted_downloads_and_shows_the_requests(api: Api) -> None:
    image_id = upload(api, png(256, 256))
    api.drain()
    before = api.client.get(f"/view/{image_id}").text

    downloaded = api.client.get(f"/images/{image_id}/download?size=256", follow_redirects=False)
    assert api.fetch(downloaded.headers["location"]).status_code == 200  # counted here
    api.wired.monitor.run_once(wait=0)
    after = api.client.get(f"/view/{image_id}").text

    assert downloaded.status_code == 302
    links = re.findall(r'href="(/images/[^"]+/download\?size=\w+)"', before)
    assert links == [f"/images/{image_id}/download?size={s}" for s in ("original", 128, 256, 512)]
    assert f"256 {views.TIMES} 256" in before
    assert "Not requested yet." in before
    stats = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", after))
    assert stats["Requests"] == "1"
    assert stats["Unique users"] == "1"
    assert stats["Last requested by"] == "tester"


def test_an_unknown_image_is_an_html_404(api: Api) -> None:
    reply = api.client.get("/view/b9f08c7f-089e-4cbf-ba78-a89a6e586e86")

    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("text/html")
    assert "There is no such image." in reply.text


@pytest.mark.parametrize("path", ["/", "/upload", "/analytics", "/login"])
def test_pages_load_nothing_from_other_hosts(api: Api, path: str) -> None:
    upload(api, png(64, 48))
    api.drain()

    page = api.client.get(path)
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)

    assert page.status_code == 200
    assert assets
    assert all(url.startswith("/static/") for url in assets), assets
    for url in assets:
        assert api.client.get(url).status_code == 200, url
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"  # pages hold signed URLs


def test_the_vendored_chart_library_ships_with_its_licence() -> None:
    vendored = STATIC / "vendor" / "uplot"

    assert "(v1.6.32)" in (vendored / "uPlot.iife.min.js").read_text()[:100]
    assert "MIT License" in (vendored / "LICENSE").read_text()


@pytest.mark.parametrize(
    ("sizes", "at_least", "picked"),
    [([128, 256, 512], 240, 256), ([128, 256, 512], 480, 512), ([64, 100], 240, 100)],
)
def test_pick_size_takes_the_smallest_size_that_covers(
    sizes: list[int], at_least: int, picked: int
) -> None:
    assert views.pick_size(sizes, at_least) == picked


def test_thumbnail_dimensions_keep_the_aspect_and_never_upscale() -> None:
    image = Image("id", "sha", "image/jpeg", 1000, 500, 1, datetime.now(UTC), "", ImageStatus.READY)

    assert views.scaled(image, 128) == (128, 64)
    assert views.scaled(image, 2000) == (1000, 500)


@pytest.mark.parametrize(
    ("count", "shown"), [(512, "512 B"), (2048, "2.0 KB"), (5 * 1024**2, "5.0 MB")]
)
def test_human_bytes(count: int, shown: str) -> None:
    assert views.human_bytes(count) == shown
