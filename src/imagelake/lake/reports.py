"""What the lake's reports return: groupings, filters, rows, and their JSON shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from imagelake.domain.errors import InvalidInput

MAX_TOP = 1000
# The variant of requests whose event named none (sent before events carried one).
UNKNOWN_VARIANT = "unknown"


class GroupBy(StrEnum):
    day = "day"
    image = "image"
    user = "user"
    variant = "variant"


@dataclass(frozen=True)
class DayRow:
    day: date
    requests: int
    unique_users: int
    unique_images: int


@dataclass(frozen=True)
class ImageRow:
    image_id: str
    requests: int
    unique_users: int
    last_requested_at: datetime


@dataclass(frozen=True)
class UserRow:
    user_id: str
    requests: int
    unique_images: int
    last_requested_at: datetime


@dataclass(frozen=True)
class VariantRow:
    variant: str  # the event's variant, else its older `size`, else UNKNOWN_VARIANT
    requests: int
    unique_users: int
    unique_images: int
    last_requested_at: datetime


Row = DayRow | ImageRow | UserRow | VariantRow


@dataclass(frozen=True)
class Summary:
    requests: int
    images: int
    users: int
    first_request_at: datetime | None
    last_request_at: datetime | None


@dataclass(frozen=True)
class Filters:
    since: date | None = None
    until: date | None = None
    image_id: str | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise InvalidInput(f"since ({self.since}) is after until ({self.until})")


def report_payload(by: GroupBy, filters: Filters, top: int, rows: list[Row]) -> dict[str, Any]:
    """The JSON shape of a report, shared by the CLI and GET /stats/requests."""
    return {
        "by": str(by),
        "since": filters.since.isoformat() if filters.since else None,
        "until": filters.until.isoformat() if filters.until else None,
        "image_id": filters.image_id,
        "top": None if by == GroupBy.day else top,
        "rows": [
            {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(row).items()}
            for row in rows
        ],
    }
