"""Listing cursors of the memory and SQLite catalogs: the last (created_at, image_id) seen."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from imagelake.domain.errors import InvalidInput


def encode_cursor(created_at: str, image_id: str) -> str:
    """An opaque cursor for the page after (created_at in ISO 8601, image_id)."""
    return base64.urlsafe_b64encode(f"{created_at}|{image_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """What encode_cursor put in; InvalidInput for anything else."""
    try:
        created_at, image_id = base64.urlsafe_b64decode(cursor).decode().split("|", 1)
        return datetime.fromisoformat(created_at), image_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("invalid cursor") from None
