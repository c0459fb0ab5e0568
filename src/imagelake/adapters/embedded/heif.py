"""HEIC that libvips cannot decode, read with pillow-heif.

The pyvips-binary libheif decodes AV1 only; phones write HEVC, which pillow-heif's own libheif
(with libde265) decodes. Its pixels are handed to libvips, which does the rest.
"""

from __future__ import annotations

import re
from typing import Any

import pillow_heif
import pyvips

from imagelake.domain.errors import (
    CorruptImage,
    ImagelakeError,
    ImageTooLarge,
    UnsupportedMediaType,
)

# What pillow-heif raises for a file it cannot read (see `pillow_heif.open_heif`).
_HEIF_ERRORS = (ValueError, EOFError, SyntaxError, RuntimeError, OSError)
# libheif's messages begin with its error category: "Invalid input: ...".
_CATEGORY = re.compile(r"^([A-Za-z ]+): ")
_UNSUPPORTED = frozenset({"Unsupported feature", "Unsupported filetype", "Decoder plugin error"})
_INTERPRETATIONS = {1: "b-w", 2: "b-w", 3: "srgb", 4: "srgb"}


class HeicImage:
    """A HEIC whose header has been read; its pixels are decoded on `pixels()`.

    libheif applies the file's rotation and mirroring (irot, imir) itself, so `width` and
    `height` are as displayed, and so are the pixels; the EXIF orientation of a HEIF file
    is informative only and is not applied again.
    """

    def __init__(self, data: bytes) -> None:
        try:
            self._file = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
            self.width, self.height = (int(side) for side in self._file.size)
            profile: Any = self._file.info.get("icc_profile")
        except _HEIF_ERRORS as exc:
            raise heif_error(exc, "cannot read the image/heic header") from exc
        self.profile = bytes(profile or b"")

    def pixels(self) -> Any:
        """The decoded pixels as a libvips image, 8 bits a sample, with its ICC profile."""
        try:
            data, stride = self._file.data, int(self._file.stride)
        except _HEIF_ERRORS as exc:
            raise heif_error(exc, "cannot decode the image") from exc
        width, height = (int(side) for side in self._file.size)  # as decoded
        bands = stride // width
        if bands not in _INTERPRETATIONS or len(data) != stride * height:
            raise UnsupportedMediaType(f"image/heic in mode {self._file.mode} is not supported")
        image = pyvips.Image.new_from_memory(data, width, height, bands, "uchar")
        image = image.copy(interpretation=_INTERPRETATIONS[bands])
        if self.profile:
            image.set_type(pyvips.GValue.blob_type, "icc-profile-data", self.profile)
        return image


def heif_error(exc: Exception, doing: str) -> ImagelakeError:
    """Our error for pillow-heif's, with libheif's reason but not its category or codes."""
    text = " ".join(str(exc).split()) or "the decoder gave no reason"
    category = _CATEGORY.match(text)
    why = text[category.end() :] if category else text
    if "Security limit exceeded" in why:
        return ImageTooLarge(f"{doing}: {why}"[:300])
    if isinstance(exc, SyntaxError) or (category and category.group(1) in _UNSUPPORTED):
        return UnsupportedMediaType(f"{doing}: {why}"[:300])
    return CorruptImage(f"{doing}: {why}"[:300])
