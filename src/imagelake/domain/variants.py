"""Variants: the transforms a delivery URL may ask for, parsed, checked and normalised.

One transform has one normal form (`Variant.normalised`), so equal requests name the same
rendered blob: settings that cannot change the output are dropped, and `dpr` is folded into
the size. `Render` is what an ImageEngine is asked to make once the output format is known.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from imagelake.domain.errors import ConfigError, InvalidInput


class Fit(StrEnum):
    INSIDE = "inside"  # within w x h, aspect kept
    COVER = "cover"  # exactly w x h, cropped by gravity
    CONTAIN = "contain"  # exactly w x h, the whole image letterboxed
    FILL = "fill"  # exactly w x h, stretched


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


LOSSY = frozenset({Format.JPEG, Format.WEBP, Format.AVIF})
ANIMATED = frozenset({Format.GIF, Format.WEBP})  # output formats that keep every frame
CONTENT_TYPES = {
    Format.JPEG: "image/jpeg",
    Format.WEBP: "image/webp",
    Format.AVIF: "image/avif",
    Format.PNG: "image/png",
    Format.GIF: "image/gif",
}
EXTENSIONS = {Format.JPEG: "jpg", Format.WEBP: "webp", Format.AVIF: "avif", Format.PNG: "png"}


@dataclass(frozen=True)
class Variant:
    w: int = 0  # 0: follows from h and the aspect ratio (both 0: the original size)
    h: int = 0
    fit: Fit = Fit.INSIDE
    gravity: Gravity = Gravity.CENTER
    format: Format = Format.AUTO
    quality: int = 0  # 0: the configured default for the format
    dpr: int = 1
    enlarge: bool = False

    @property
    def is_original(self) -> bool:
        """The stored original, byte for byte: no size and no format asked for."""
        return self.w == self.h == 0 and self.format == Format.AUTO

    def normalised(self) -> Variant:
        """The same output with one spelling: dpr folded into the size, no-op settings gone."""
        w, h = self.w * self.dpr, self.h * self.dpr
        fit = self.fit if w and h else Fit.INSIDE  # with one side given, every fit is inside
        return Variant(
            w=w,
            h=h,
            fit=fit,
            gravity=self.gravity if fit == Fit.COVER else Gravity.CENTER,
            format=self.format,
            quality=0 if self.format in (Format.PNG, Format.GIF) else self.quality,
            dpr=1,
            enlarge=self.enlarge and bool(w or h),
        )

    @functools.cached_property
    def key(self) -> str:
        """The normal form as a blob-name-safe string: equal transforms, equal keys."""
        v = self.normalised()
        if v.is_original:
            return "original"
        parts = [f"{v.w}x{v.h}" if v.w or v.h else "full"]
        parts += [str(v.fit)] if v.w and v.h else []
        parts += [str(v.gravity)] if v.fit == Fit.COVER else []
        parts += ["enlarge"] if v.enlarge else []
        parts += [f"q{v.quality}"] if v.quality else []
        return "-".join([*parts, str(v.format)])

    def to_params(self) -> dict[str, str]:
        """The query parameters of the normal form, defaults left out; they parse back to it."""
        normal, default = self.normalised(), Variant()
        params: dict[str, str] = {}
        for field in dataclasses.fields(normal):
            value = getattr(normal, field.name)
            if value != getattr(default, field.name):
                params[field.name] = "1" if value is True else str(value)
        return params


@dataclass(frozen=True)
class Render:
    """One output an engine is asked to make: a normalised variant in a concrete format."""

    variant: Variant  # normalised; format is never AUTO; quality is set for lossy formats
    png_if_alpha: bool = False  # format=auto chose JPEG: PNG instead if the source has alpha
    max_frames: int = 1  # frames kept from an animated source when the format animates

    @functools.cached_property
    def name(self) -> str:
        """The rendered blob's file name, unique per output: `512x512-inside-q80.jpg`."""
        stem = self.variant.key.removesuffix(f"-{self.variant.format}")
        ext = EXTENSIONS.get(self.variant.format, str(self.variant.format))
        return f"{stem}.{ext}-or-png" if self.png_if_alpha else f"{stem}.{ext}"


def scale_needed(variant: Variant, width: int, height: int) -> float:
    """How much of a width x height source's resolution the (normalised) variant needs: the
    scale its output is taken at (1: every pixel, more only with enlarge)."""
    v = variant
    if not v.w and not v.h:
        return 1.0
    sx, sy = v.w / width, v.h / height
    if not (v.w and v.h):
        scale = sx or sy
    elif v.fit in (Fit.INSIDE, Fit.CONTAIN):
        scale = min(sx, sy)
    else:  # cover and fill take each axis at its own scale: the larger one decides
        scale = max(sx, sy)
    return scale if v.enlarge else min(scale, 1.0)


ORIGINAL = Variant()
PARAMS = ("w", "h", "fit", "gravity", "format", "quality", "dpr", "enlarge", "preset", "size")
_DIGITS = re.compile(r"[0-9]{1,6}")
_PRESET_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class Presets:
    """The named variants a URL may ask for: `size=` (the upload-time thumbnail sizes) and
    `preset=` (IMAGELAKE_PRESETS), kept apart so neither can shadow the other."""

    sizes: Mapping[str, Variant]
    named: Mapping[str, Variant]


def size_presets(sizes: tuple[int, ...], format: str, quality: int) -> dict[str, Variant]:
    """`size=N|original` as the upload-time thumbnails were made: same box, format, quality."""
    thumbnail = dict(format=Format(format), quality=quality)
    return {"original": ORIGINAL, **{str(s): Variant(w=s, h=s, **thumbnail) for s in sizes}}  # type: ignore[arg-type]


def parse_variant(params: Mapping[str, str], presets: Presets, max_dimension: int) -> Variant:
    """The normalised variant query params ask for; InvalidInput naming the problem.

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
    if "size" in params:
        base = _preset("size", params["size"], presets.sizes)
    if "preset" in params:
        base = _preset("preset", params["preset"], presets.named)
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
    asked = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    variant = asked.normalised()
    largest = max(variant.w, variant.h)
    if largest > max_dimension:
        raise InvalidInput(
            f"the output would be {largest} px on its long side (with dpr {asked.dpr}); "
            f"the limit is {max_dimension}"
        )
    return variant


def parse_presets(text: str, max_dimension: int) -> dict[str, Variant]:
    """`card=w:300,h:200,fit:cover;hero=w:1600` as named variants; ConfigError if malformed."""
    presets: dict[str, Variant] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        name, sep, body = entry.partition("=")
        name = name.strip()
        if not sep or not _PRESET_NAME.fullmatch(name):
            raise ConfigError(f"IMAGELAKE_PRESETS: {entry[:60]!r} is not NAME=w:300,h:200,...")
        if name in presets:
            raise ConfigError(f"IMAGELAKE_PRESETS: preset {name!r} is declared twice")
        params: dict[str, str] = {}
        for item in filter(None, (i.strip() for i in body.split(","))):
            key, colon, value = item.partition(":")
            key = key.strip()
            if not colon or key in ("preset", "size"):
                raise ConfigError(f"IMAGELAKE_PRESETS: {name}: {item[:40]!r} is not KEY:VALUE")
            if key in params:
                raise ConfigError(f"IMAGELAKE_PRESETS: {name}: {key!r} is given twice")
            params[key] = value.strip()
        try:
            presets[name] = parse_variant(params, Presets({}, {}), max_dimension)
        except InvalidInput as exc:
            raise ConfigError(f"IMAGELAKE_PRESETS: {name}: {exc}") from None
    return presets


def negotiate(variant: Variant, accept: str, default_quality: int) -> Render:
    """What to render for a request: an explicit format as asked; `auto` by its Accept header
    (AVIF, then WebP, else JPEG, or PNG when the source has alpha). Quality 0 becomes the
    configured default; the frames limit is the caller's to set."""
    fmt, png_if_alpha = variant.format, False
    if fmt == Format.AUTO:
        accepted = _accepted(accept)
        fmt = next((f for f in (Format.AVIF, Format.WEBP) if accepted.get(f"image/{f}", 0) > 0),
                   Format.JPEG)  # fmt: skip
        png_if_alpha = fmt == Format.JPEG
    quality = (variant.quality or default_quality) if fmt in LOSSY else 0
    return Render(dataclasses.replace(variant, format=fmt, quality=quality), png_if_alpha)


def _accepted(accept: str) -> dict[str, float]:
    """Media types with their q. Only explicit ones count (`image/*` does not promise AVIF);
    a type listed twice keeps its lowest q, so `image/avif;q=0` cannot be undone later."""
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
                q = q if math.isfinite(q) and 0 <= q <= 1 else 0.0
        if media:
            weights[media] = min(q, weights.get(media, q))
    return weights


def _preset(name: str, value: str, table: Mapping[str, Variant]) -> Variant:
    if value not in table:
        known = ", ".join(sorted(table)) or "none are configured"
        raise InvalidInput(f"no {name} {value[:40]!r}; known: {known}")
    return table[value]


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
