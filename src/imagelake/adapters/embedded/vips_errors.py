"""pyvips.Error into our errors: the decoder's own reason, naming no libvips internals."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyvips

from imagelake.domain.errors import (
    CorruptImage,
    ImagelakeError,
    ImageTooLarge,
    UnsupportedMediaType,
)

# The names libvips puts before a line ("VipsJpeg: ", "vipspng: ", "gifload_source: ", ...).
_SPEAKER = re.compile(r"^(?:VIPS|[Vv]ips\w*|\w*load\w*|\w+2vips|heif|webp|tiff|gif|png|jpeg): ")
# Lines that wrap a loader's reason and say nothing of the file itself.
_WRAPPER = re.compile(
    r"^(?:source:|unable to (?:call|copy)|error in tile|read gave \d+ warnings|"
    r"out of order read|\w+ read error$|.*load error$)"
)
_CONTINUED = re.compile(r"\n(?=[ \t])")
_ERROR_CODE = re.compile(r"\s*\(\d+\.\d+\)$")  # libheif's numeric error codes
# A loader's refusal of a side longer than libvips' own coordinate limit.
_SIDE_LIMIT = re.compile(r"exceeds user limit|width/height out of range")
_MAX_WARNINGS = 50


class LoaderWarnings(logging.Handler):
    """libvips' warnings (pyvips logs them) while loads run.

    Some loaders, libpng's among them, give their reason only as a warning and then fail
    with a generic line; a damaged JPEG is only ever a warning.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._guard = threading.Lock()
        self._open: list[list[tuple[int, str]]] = []

    def install(self) -> None:
        logger = logging.getLogger("pyvips")
        if self not in logger.handlers:
            logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            for seen in self._open:
                if len(seen) < _MAX_WARNINGS:
                    seen.append((record.thread or 0, record.getMessage()))

    @contextmanager
    def collect(self) -> Iterator[Callable[[], list[str]]]:
        """While the block runs: a function that gives the warnings so far, this thread's last.

        A header is read on the calling thread, pixels on libvips' own threads. A header read
        at the same time in another thread may add its warnings too: ours come after them.
        """
        seen: list[tuple[int, str]] = []
        me = threading.get_ident()

        def so_far() -> list[str]:
            with self._guard:
                ordered = sorted(seen, key=lambda warning: warning[0] == me)
            return [text for _, text in ordered]

        with self._guard:
            self._open.append(seen)
        try:
            yield so_far
        finally:
            with self._guard:
                self._open.remove(seen)


WARNINGS = LoaderWarnings()


def _plain(line: str) -> str:
    line = line.strip()
    while match := _SPEAKER.match(line):
        line = line[match.end() :].strip()
    return _ERROR_CODE.sub("", line).rstrip(":")


def _useful(text: str) -> list[str]:
    """Each message of libvips' log once, plain; libheif continues one on an indented line."""
    messages = _CONTINUED.sub(" ", text).splitlines()
    plain = (_plain(message) for message in messages)
    return [message for message in plain if message and not _WRAPPER.match(message)]


def reason(exc: pyvips.Error, warnings: list[str] | None = None) -> str:
    """Why a load failed, as the decoder put it.

    libvips' error buffer is process-wide and keeps the warnings of loads that went on,
    so this failure's own line is the last one; the warnings speak when it is only a wrapper
    (the last of them too: a PNG's damaged text chunk is a warning, its damaged pixels fail).
    """
    detail = _useful(str(exc.detail or ""))
    found = detail or _useful("\n".join(warnings or []))
    return (found[-1] if found else "the decoder gave no reason")[:200]


def translate(exc: pyvips.Error, doing: str, warnings: list[str]) -> ImagelakeError:
    """The error of ours for a failed load; `doing` says what failed ("cannot decode ...")."""
    why = reason(exc, warnings)
    if "not been built in" in str(exc.detail):
        return UnsupportedMediaType(f"{doing}: {why}")
    if _SIDE_LIMIT.search("\n".join([str(exc.detail), *warnings])):
        return ImageTooLarge(f"{doing}: {why}")
    return CorruptImage(f"{doing}: {why}")
