"""Debian's chromium driven by Playwright, plus the few browser chores the dashboard tests share."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, Request, sync_playwright

CHROMIUM = (
    "/usr/bin/chromium"  # `make browser` installs it; Playwright's own builds can't be fetched
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Shots:
    """Numbered full-page screenshots under test-artifacts/<name>/, one per step."""

    name: str
    count: int = 0
    saved: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder = ARTIFACTS / self.name
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()

    def take(self, page: Page, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', step.lower())}.png"
        page.screenshot(path=str(path), full_page=True)
        self.saved.append(path)
        return path


@dataclass
class Watch:
    """Everything a page asked for and every error it logged, for offline and no-error checks."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    counted: list[str] = field(default_factory=list)  # GETs without Range: what is counted

    def attach(self, page: Page) -> None:
        page.on("request", self._request)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda msg: self.errors.append(msg.text) if msg.type == "error" else None,
        )

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)
        if request.method == "GET" and "range" not in request.headers:
            self.counted.append(request.url)

    def deliveries(self, base_url: str, image_id: str) -> int:
        """How many GETs of the image's delivery links the browser sent, by any path."""
        return sum(url.startswith(f"{base_url}/d/{image_id}?") for url in self.counted)


DROP_FILES = """
([items]) => {
  const transfer = new DataTransfer();
  for (const [name, type, b64] of items) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], name, { type }));
  }
  return transfer;
}
"""


def drop_files(page: Page, selector: str, files: list[tuple[str, str, bytes]]) -> None:
    """Drag files from the desktop onto an element: dragenter, dragover, then drop."""
    items = [[name, kind, base64.b64encode(data).decode()] for name, kind, data in files]
    transfer = page.evaluate_handle(DROP_FILES, [items])
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(selector, event, {"dataTransfer": transfer})
    transfer.dispose()


def throttle_uploads(page: Page, bytes_per_second: int) -> None:
    """Slow the page's uploads down (DevTools network emulation), so progress is visible."""
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )
