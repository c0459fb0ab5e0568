"""What the dashboard's templates show: plain values computed from images and their URLs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from imagelake.domain.events import ImageStats
from imagelake.domain.images import Image, ImageStatus
from imagelake.services.images import ImageUrls

TILE_PX = 240  # the gallery's tile edge in CSS pixels
TIMES = "\u00d7"  # the multiplication sign in "640 x 480"


def pick_size(sizes: list[int], at_least: int) -> int:
    """The smallest size covering at_least pixels, else the largest there is."""
    ordered = sorted(sizes)
    return next((size for size in ordered if size >= at_least), ordered[-1])


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def human_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Card:
    image_id: str
    status: str
    src: str | None
    srcset: str | None
    caption: str


def card(image: Image, urls: ImageUrls) -> Card:
    src = srcset = None
    if urls.thumbnails:
        sizes = list(urls.thumbnails)
        one_x = pick_size(sizes, TILE_PX)
        two_x = pick_size(sizes, 2 * TILE_PX)
        src = urls.thumbnails[one_x]
        srcset = f"{src} 1x, {urls.thumbnails[two_x]} 2x"
    caption = f"{image.width}{TIMES}{image.height} · {human_bytes(image.bytes)}"
    return Card(image.image_id, str(image.status), src, srcset, caption)


@dataclass(frozen=True)
class Download:
    label: str
    size: str  # the download route's ?size=
    dimensions: str


def scaled(image: Image, long_side: int) -> tuple[int, int]:
    """A thumbnail's pixel size: long side == size, never upscaled."""
    longest = max(image.width, image.height)
    if long_side >= longest:
        return image.width, image.height
    factor = long_side / longest
    return max(1, round(image.width * factor)), max(1, round(image.height * factor))


def downloads(image: Image, sizes: tuple[int, ...]) -> list[Download]:
    rows = [Download("Original", "original", f"{image.width} {TIMES} {image.height}")]
    if image.status == ImageStatus.READY:
        for size in sorted(image.thumbnails or sizes):
            width, height = scaled(image, size)
            rows.append(Download(f"{size} px", str(size), f"{width} {TIMES} {height}"))
    return rows


@dataclass(frozen=True)
class Detail:
    image: Image
    preview: str | None
    downloads: list[Download]
    facts: list[tuple[str, str]]
    stats: list[tuple[str, str]] | None


def detail(
    image: Image, urls: ImageUrls, sizes: tuple[int, ...], stats: ImageStats | None
) -> Detail:
    preview = None
    if urls.thumbnails:
        preview = urls.thumbnails[pick_size(list(urls.thumbnails), 2 * TILE_PX)]
    facts = [
        ("Status", str(image.status)),
        ("Dimensions", f"{image.width} {TIMES} {image.height}"),
        ("Size", human_bytes(image.bytes)),
        ("Type", image.content_type),
        ("Uploaded", human_time(image.created_at)),
        ("Uploaded by", image.owner or "—"),
        ("SHA-256", image.sha256),
    ]
    if image.failure_reason:
        facts.insert(1, ("Failure", image.failure_reason))
    shown = None
    if stats is not None and stats.first_requested_at and stats.last_requested_at:
        shown = [
            ("Requests", str(stats.request_count)),
            ("Unique users", str(stats.unique_users)),
            ("First requested", human_time(stats.first_requested_at)),
            ("Last requested", human_time(stats.last_requested_at)),
            ("Last requested by", stats.last_user_id or "—"),
        ]
    return Detail(image, preview, downloads(image, sizes), facts, shown)
