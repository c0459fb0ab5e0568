"""Variants: the transforms a delivery URL may ask for, parsed, checked and normalised.

Not wired to a route yet (issue 13 builds the delivery path on it). One transform has one
normal form, so the same request always names the same rendered blob: `Variant.key`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from imagelake.domain.errors import ConfigError, InvalidInput


class Fit(StrEnum):
    INSIDE = "inside"
    COVER = "cover"
    CONTAIN = "contain"
    FILL = "fill"


class Gravity(StrEnum):
    CENTER = "center"
    NORTH = "north"
    NORTHEAST = "northeast"
    EAST = "east"
    SOUTHEAST = "southeast"
    SOUTH = "south"
    SOUTHWEST = "southwest"
    WEST = "west"
    NORTHWEST = "northwest"
    SMART = "smart"  # libvips' attention crop


class Format(StrEnum):
    AUTO = "auto"
    JPEG = "jpeg"
    WEBP = "webp"
    AVIF = "avif"
    PNG = "png"
    GIF = "gif"


@dataclass(frozen=True)
class Variant:
    w: int = 0  # 0: follows from h and the aspect ratio (both 0: the original size)
    h: int = 0
    fit: Fit = Fit.INSIDE
    gravity: Gravity = Gravity.CENTER
    format: Format = Format.AUTO
    quality: int = 0  # 0: the encoder's default for the format
    dpr: int = 1
    enlarge: bool = False

    @property
    def key(self) -> str:
        """The normal form as a blob-key-safe name: equal transforms, equal keys."""
        parts = [f"w{self.w}", f"h{self.h}", str(self.fit), str(self.gravity), str(self.format)]
        parts += [f"q{self.quality}", f"dpr{self.dpr}"] + (["enlarge"] if self.enlarge else [])
        return "_".join(parts)

    def to_params(self) -> dict[str, str]:
        """The query parameters that parse back to this variant, defaults left out."""
        default = Variant()
        params: dict[str, str] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value != getattr(default, field.name):
                params[field.name] = "1" if value is True else str(value)
        return params


ORIGINAL = Variant()
PARAMS = ("w", "h", "fit", "gravity", "format", "quality", "dpr", "enlarge", "preset", "size")
_DIGITS = re.compile(r"[0-9]{1,6}")


def size_presets(sizes: tuple[int, ...]) -> dict[str, Variant]:
    """`size=N|original`, as the upload-time thumbnails were asked for, as presets."""
    return {"original": ORIGINAL, **{str(s): Variant(w=s, h=s) for s in sizes}}


def parse_variant(
    params: Mapping[str, str], presets: Mapping[str, Variant], max_dimension: int
) -> Variant:
    """The variant query params ask for; InvalidInput naming every problem.

    A repeated parameter is the caller's to refuse: a Mapping holds one value per name.
    Parameters given beside `preset` (or `size`) override the preset's.
    """
    unknown = sorted(name for name in params if name not in PARAMS)
    if unknown:
        names = ", ".join(repr(n)[1:-1][:40] for n in unknown[:10])
        raise InvalidInput(f"unknown parameters: {names}; known: {', '.join(PARAMS)}")
    if "preset" in params and "size" in params:
        raise InvalidInput("give preset or size, not both")
    base = ORIGINAL
    for name in ("preset", "size"):
        if name in params:
            base = _preset(name, params[name], presets)
    changes: dict[str, object] = {}
    for name in ("w", "h"):
        if name in params:
            changes[name] = _number(name, params[name], 0, max_dimension)
    if "quality" in params:
        changes["quality"] = _number("quality", params["quality"], 1, 100)
    if "dpr" in params:
        changes["dpr"] = _number("dpr", params["dpr"], 1, 4)
    for name, kind in (("fit", Fit), ("gravity", Gravity), ("format", Format)):
        if name in params:
            changes[name] = _choice(name, params[name], kind)
    if "enlarge" in params:
        if params["enlarge"] not in ("0", "1"):
            raise InvalidInput("enlarge must be 0 or 1")
        changes["enlarge"] = params["enlarge"] == "1"
    variant = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    largest = max(variant.w, variant.h) * variant.dpr
    if largest > max_dimension:
        raise InvalidInput(
            f"the output would be {largest} px on its long side (with dpr {variant.dpr}); "
            f"the limit is {max_dimension}"
        )
    return variant


def parse_presets(text: str, max_dimension: int) -> dict[str, Variant]:
    """`card=w:300,h:200,fit:cover;hero=w:1600` as named variants; ConfigError if malformed."""
    presets: dict[str, Variant] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        name, sep, body = entry.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
            raise ConfigError(f"IMAGELAKE_PRESETS: {entry[:60]!r} is not NAME=w:300,h:200,...")
        params: dict[str, str] = {}
        for item in filter(None, (i.strip() for i in body.split(","))):
            key, colon, value = item.partition(":")
            if not colon or key in ("preset", "size"):
                raise ConfigError(f"IMAGELAKE_PRESETS: {name}: {item[:40]!r} is not KEY:VALUE")
            params[key.strip()] = value.strip()
        try:
            presets[name] = parse_variant(params, {}, max_dimension)
        except InvalidInput as exc:
            raise ConfigError(f"IMAGELAKE_PRESETS: {name}: {exc}") from None
    return presets


def negotiate_format(variant: Variant, accept: str, has_alpha: bool) -> Format:
    """The output format: an explicit one as asked; `auto` by the request's Accept header."""
    if variant.format != Format.AUTO:
        return variant.format
    accepted = _accepted(accept)
    for candidate in (Format.AVIF, Format.WEBP):
        if accepted.get(f"image/{candidate}", 0.0) > 0:
            return candidate
    return Format.PNG if has_alpha else Format.JPEG


def _accepted(accept: str) -> dict[str, float]:
    """Media types with their q (only explicit ones: `image/*` does not promise AVIF)."""
    weights: dict[str, float] = {}
    for item in accept.split(",")[:64]:
        media, *options = (part.strip().lower() for part in item.split(";"))
        q = 1.0
        for option in options:
            if option.startswith("q="):
                try:
                    q = float(option[2:])
                except ValueError:
                    q = 0.0
        if media:
            weights[media] = q
    return weights


def _preset(name: str, value: str, presets: Mapping[str, Variant]) -> Variant:
    if value not in presets:
        known = ", ".join(sorted(presets)) or "none are configured"
        raise InvalidInput(f"no {name} {value[:40]!r}; known: {known}")
    return presets[value]


def _number(name: str, value: str, low: int, high: int) -> int:
    if not _DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}")
    return int(value)


def _choice(name: str, value: str, kind: type[StrEnum]) -> StrEnum:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(member) for member in kind)
        raise InvalidInput(f"{name} must be one of: {choices}") from None
