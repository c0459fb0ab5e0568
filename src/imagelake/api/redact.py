"""What an error tells the client: our own words, never a backend's (its paths, SQL, hosts).

A backend's message stays in the server's log, under an id the client is given instead.
"""

from __future__ import annotations

import os
import re
import secrets

from imagelake.domain.errors import BackendError, ImagelakeError

# An absolute path: a '/' that starts no URL, no word and no relative path, then its names.
_ABSOLUTE_PATH = re.compile(r"(?<![\w/.:~-])/[^\s/'\"<>]+(?:/[^\s/'\"<>]*)*")


def error_id() -> str:
    return secrets.token_hex(4)


def generic_message(status: int, error_id: str) -> str:
    what = "a backend failed; try again later" if status == 503 else "internal server error"
    return f"{what} (error id {error_id})"


def client_message(exc: ImagelakeError, status: int, error_id: str) -> str:
    """exc's message if it is ours; for a server error that wraps a backend's, a generic one.

    Our own errors are raised from nothing; an adapter translating a vendor's error raises
    from it (and quotes it), so an error that wraps another speaks the backend's words.
    """
    wraps = exc.__cause__ is not None or exc.__context__ is not None
    if status >= 500 and (wraps or not isinstance(exc, BackendError)):
        return generic_message(status, error_id)
    return without_paths(str(exc))


def without_paths(message: str) -> str:
    """message with every absolute path into this machine's file system left out.

    A URL path such as /images/ID stays: no folder of that name is at the root.
    """

    def hide(match: re.Match[str]) -> str:
        top = match[0].split("/")[1]
        return "<server path>" if os.path.isdir("/" + top) else match[0]

    return _ABSOLUTE_PATH.sub(hide, message)
