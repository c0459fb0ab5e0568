"""The dashboard in a real browser against a real `imagelake serve`; screenshots kept."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, FilePayload, Page, expect

from tests.e2e.browser import Shots, Watch, chromium, drop_files, throttle_uploads
from tests.e2e.service import Service
from tests.photos import photo_bytes

SLOW = 60_000  # ms: thumbnails and the event consumer run in other processes on a busy machine


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def idle_service(tmp_path: Path) -> Iterator[Service]:
    """An API with no workers of its own: the test decides when thumbnails get made."""
    svc = Service(tmp_path / "data", workers=0).start()
    yield svc
    svc.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    yield context
    context.close()


@contextmanager
def workers(service: Service) -> Iterator[None]:
    """`imagelake worker` beside the API: thumbnails and the event consumer start now."""
    log = (service.data_dir / "worker.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagelake", "worker", "--workers", "1"],
        env=service.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


def sign_in(page: Page, service: Service, key: str) -> None:
    page.fill("#key", key)
    page.click("form[action='/login'] button[type=submit]")


def reload_until(page: Page, ready: str, timeout: float = SLOW / 1000) -> None:
    """Reload until a selector shows up: for numbers that arrive through the event pipeline."""
    deadline = time.monotonic() + timeout
    while page.locator(ready).count() == 0:
        assert time.monotonic() < deadline, f"{ready!r} never appeared on {page.url}"
        time.sleep(0.5)
        page.reload()
        page.wait_for_load_state("networkidle")


def wait_for_count(svc: Service, image_id: str, count: int) -> int:
    """The image's request count once the event pipeline has caught up with `count`."""
    deadline = time.monotonic() + SLOW / 1000
    with svc.client() as api:
        while True:
            stats = api.get(f"/images/{image_id}/stats").json()
            if stats["request_count"] >= count or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert stats["request_count"] == count, stats  # not one fetch more or less
    return count


def test_sign_in_upload_download_and_see_it_counted(
    idle_service: Service, context: BrowserContext
) -> None:
    svc = idle_service
    shots = Shots("dashboard")
    page = context.new_page()
    watch = Watch()
    watch.attach(page)

    page.goto(svc.base_url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    shots.take(page, "sign in")
    sign_in(page, svc, svc.key)
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    expect(page.get_by_text("No images yet")).to_be_visible()
    (cookie,) = context.cookies()
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    shots.take(page, "empty gallery")

    # Upload by drag and drop, slowed down so the progress bar is seen moving.
    page.get_by_role("link", name="Upload", exact=True).click()
    photo = photo_bytes("astronaut", scale=2.0, quality=95)
    throttle_uploads(page, 150_000)
    drop_files(page, "#dropzone", [("astronaut.jpg", "image/jpeg", photo)])
    row = page.locator(".upload").first
    expect(row.locator(".state")).to_have_text(re.compile(r"^[1-9]\d?%$"), timeout=SLOW)
    assert 0 < float(row.locator("progress").get_attribute("value") or 0) < 1
    shots.take(page, "uploading")
    expect(row.locator(".state")).to_have_text("Processing…", timeout=SLOW)
    image_id = row.get_attribute("data-image-id")
    assert image_id
    shots.take(page, "uploaded")

    # Nothing makes thumbnails yet: the gallery shows a placeholder, which fills in by itself.
    page.get_by_role("link", name="Gallery").click()
    card = page.locator(f".card[data-image-id='{image_id}']")
    expect(card.get_by_role("status")).to_have_text("Processing…")
    shots.take(page, "processing placeholder")
    with workers(svc):
        thumb = card.locator("img")
        expect(thumb).to_be_visible(timeout=SLOW)
        expect(card).to_have_attribute("data-status", "ready")
        page.reload()  # the server-rendered card, as a later visit sees it
        expect(thumb).to_have_attribute("loading", "lazy")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle()
        )
        shots.take(page, "gallery")

        thumb.click()
        expect(page).to_have_url(f"{svc.base_url}/view/{image_id}")
        expect(page.locator("#request-stats")).to_be_visible()  # the gallery's views count
        expect(page.locator(".preview img")).to_be_visible()
        shots.take(page, "image page")
        with page.expect_download() as download:
            page.click("a.download[data-size='original']")
        saved = download.value.path()
        assert saved.read_bytes() == photo

        # Every image the browser fetched (gallery, preview, download) is one counted request.
        # The download goes to the browser's download manager, which Playwright does not
        # report as a page request: one more than the page's own fetches.
        seen = watch.deliveries(svc.base_url, image_id) + 1
        assert seen >= 3  # at least the gallery's thumbnail, the preview and the download
        counted = wait_for_count(svc, image_id, seen)
        requests = page.locator("#request-stats dt:text-is('Requests') + dd")
        expect(requests).to_have_text(re.compile(r"^[1-9]\d*$"), timeout=SLOW)
        shots.take(page, "image page counted")

        page.get_by_role("link", name="Analytics").click()
        reload_until(page, f"#top-images li[data-image-id='{image_id}']")
        top = page.locator(f"#top-images li[data-image-id='{image_id}']")
        assert int(top.locator(".count").inner_text()) >= counted
        expect(top.locator("img.mini")).to_have_attribute("src", re.compile(f"/d/{image_id}\\?"))
        users = page.locator("#top-users li[data-user-id='tester'] .count")
        assert int(users.inner_text()) >= counted
        assert int(page.locator(".stat[data-key='requests'] .value").inner_text()) >= counted
        expect(page.locator("#per-day canvas")).to_be_visible()
        shots.take(page, "analytics")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{svc.base_url}/login")
    assert context.cookies() == []
    page.goto(svc.base_url + "/analytics")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fanalytics$"))
    shots.take(page, "signed out")

    # Works offline: everything the pages loaded came from imagelake itself.
    foreign = [url for url in watch.requests if not url.startswith(svc.base_url + "/")]
    assert foreign == []
    assert watch.errors == []


def test_a_wrong_key_is_refused_and_sign_in_returns_to_the_page_asked_for(
    idle_service: Service, context: BrowserContext
) -> None:
    svc = idle_service
    shots = Shots("dashboard-sign-in")
    page = context.new_page()

    page.goto(svc.base_url + "/analytics")
    sign_in(page, svc, "il_not-a-key")
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    assert context.cookies() == []
    shots.take(page, "wrong key")

    sign_in(page, svc, svc.key)
    expect(page).to_have_url(f"{svc.base_url}/analytics")
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()


def test_files_chosen_with_the_picker_upload_and_a_refusal_shows_the_reason(
    idle_service: Service, context: BrowserContext
) -> None:
    svc = idle_service
    shots = Shots("dashboard-picker")
    page = context.new_page()
    page.goto(svc.base_url + "/upload")
    sign_in(page, svc, svc.key)

    files: list[FilePayload] = [
        {"name": "coffee.png", "mimeType": "image/png", "buffer": photo_bytes("coffee", "png")},
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image at all"},
    ]
    page.set_input_files("#file-input", files)

    refused = page.locator(".upload", has_text="notes.txt")
    accepted = page.locator(".upload", has_text="coffee.png")
    expect(refused).to_have_class(re.compile(r"\berror\b"), timeout=SLOW)
    expect(refused.locator(".state")).to_contain_text("not a supported image")
    expect(accepted.locator(".state")).to_have_text("Processing…", timeout=SLOW)
    shots.take(page, "picker uploads")
    page.get_by_role("link", name="Gallery").click()
    expect(page.locator(".card")).to_have_count(1)

    # Deleting is a cookie-authenticated DELETE from the image page.
    page.locator(".card a").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete image").click()
    expect(page).to_have_url(svc.base_url + "/")
    expect(page.get_by_text("No images yet")).to_be_visible()
