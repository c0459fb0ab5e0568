"""thumbor-compatible URLs: parse the path and check libthumbor's signature.

Pure and not wired to a route yet (issue 13). The grammar is the subset of thumbor's that maps
onto imagelake's variants, in thumbor's own order (the order libthumbor writes):

    /{signature|unsafe}/[fit-in/][{W}x{H}/][smart/][filters:format(webp):quality(80)/]{image_id}

`center/` and `middle/` (thumbor's default alignments) are accepted as no-ops. Everything
else thumbor knows (crop, trim, meta, debug, flips, `orig`, other alignments, full-fit-in,
adaptive-fit-in, other filters) is refused with a message naming the segment, never silently
dropped: a site switching from thumbor must learn which URLs would render differently.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from imagelake.domain.errors import Forbidden, InvalidInput
from imagelake.domain.images import is_image_id
from imagelake.domain.variants import Fit, Format, Gravity, Variant

FORMATS = ("jpeg", "webp", "png", "gif", "avif")
DEFAULT_MAX_DIMENSION = 4096
MAX_PATH_LENGTH = 2048

# base64.urlsafe_b64encode of a 20-byte HMAC-SHA1 digest: 27 characters and one '=' of padding
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{27}=")
_SIZE = re.compile(r"(?P<w_sign>-?)(?P<w>[0-9]*|orig)x(?P<h_sign>-?)(?P<h>[0-9]*|orig)")
_CROP = re.compile(r"-?[0-9]+x-?[0-9]+:-?[0-9]+x-?[0-9]+")
_FILTER = re.compile(r"(?P<name>[a-z_]+)\((?P<args>[^()]*)\)")
_SIZE_LIKE = re.compile(r"-?[0-9]+x.*|.*x-?[0-9]+")  # a UUID has no 'x'
_DIGITS = re.compile(r"[0-9]{1,3}")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")

# thumbor's order; a segment out of it is refused rather than read as part of the image
_RANKS = {"fit-in": 1, "size": 2, "center": 3, "middle": 4, "smart": 5, "filters": 6}
_REFUSED = {
    "meta": "thumbor's 'meta' (JSON metadata) is not supported",
    "debug": "thumbor's 'debug' is not supported",
    "full-fit-in": "'full-fit-in' is not supported: use fit-in",
    "adaptive-fit-in": "'adaptive-fit-in' is not supported: use fit-in",
    "adaptive-full-fit-in": "'adaptive-full-fit-in' is not supported: use fit-in",
    "left": "halign 'left' is not supported: crops are centred or smart",
    "right": "halign 'right' is not supported: crops are centred or smart",
    "top": "valign 'top' is not supported: crops are centred or smart",
    "bottom": "valign 'bottom' is not supported: crops are centred or smart",
}


@dataclass
class _Options:
    w: int = 0
    h: int = 0
    fit_in: bool = False
    smart: bool = False
    format: str | None = None
    quality: int | None = None


@dataclass(frozen=True)
class ThumborRequest:
    """One parsed thumbor URL. `signed_part` is the exact text libthumbor signed."""

    w: int  # 0: follows from h and the aspect ratio (both 0: the original size)
    h: int
    fit_in: bool
    smart: bool
    format: str | None  # None: thumbor's default (keep the original's format)
    quality: int | None  # None: the encoder's default
    image_id: str
    signed_part: str
    signature: str | None  # None for an `unsafe/` URL

    @property
    def unsafe(self) -> bool:
        return self.signature is None


def parse_thumbor_path(
    path: str, *, allow_unsafe: bool = False, max_dimension: int = DEFAULT_MAX_DIMENSION
) -> ThumborRequest:
    """Parse the path after `/thumbor` (percent-decoded), as libthumbor's `generate` returns it.

    Raises InvalidInput naming the offending segment; an `unsafe/` URL is Forbidden unless
    `allow_unsafe`. The signature is only checked for shape: call verify_thumbor_signature.
    """
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidInput(f"thumbor path longer than {MAX_PATH_LENGTH} characters")
    if not path.isascii() or not path.isprintable():
        raise InvalidInput("thumbor path has non-ASCII or control characters")
    head, sep, signed_part = path.removeprefix("/").partition("/")
    if not sep or not signed_part:
        raise InvalidInput("thumbor path needs a signature (or 'unsafe') and an image id")
    signature: str | None
    if head == "unsafe":
        if not allow_unsafe:
            raise Forbidden("unsafe thumbor URLs are not allowed: sign the URL")
        signature = None
    elif _SIGNATURE.fullmatch(head):
        signature = head
    else:
        raise InvalidInput(
            f"thumbor signature {head!r} is not 28 URL-safe base64 characters (or 'unsafe')"
        )
    o, image_id = _parse_options(signed_part, max_dimension)
    return ThumborRequest(
        o.w, o.h, o.fit_in, o.smart, o.format, o.quality, image_id, signed_part, signature
    )


def verify_thumbor_signature(signed_part: str, signature: str, key: bytes) -> None:
    """Raise Forbidden unless `signature` is libthumbor's HMAC-SHA1 of `signed_part` under key."""
    if not key:
        raise Forbidden("thumbor URLs are not enabled: no thumbor security key is set")
    expected = thumbor_signature(signed_part, key)
    if not hmac.compare_digest(expected.encode(), signature.encode("ascii", "replace")):
        raise Forbidden("invalid thumbor signature")


def thumbor_signature(signed_part: str, key: bytes) -> str:
    """The signature libthumbor's CryptoURL (and thumbor's Signer) puts before `signed_part`."""
    digest = hmac.new(key, signed_part.encode(), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def _parse_options(signed_part: str, max_dimension: int) -> tuple[_Options, str]:
    segments = signed_part.split("/")
    options = _Options()
    last_rank, last_segment = 0, ""
    for index, segment in enumerate(segments):
        kind = _option(segment, options, max_dimension)
        if kind is None:
            if options.fit_in and options.w == options.h == 0:
                raise InvalidInput("thumbor 'fit-in' needs a width or a height")
            return options, _image_id(segments[index:])
        if _RANKS[kind] <= last_rank:
            raise InvalidInput(
                f"thumbor segment {segment!r} must come before {last_segment!r} "
                "(thumbor's order: fit-in/WxH/smart/filters:.../image_id)"
            )
        last_rank, last_segment = _RANKS[kind], segment
    raise InvalidInput("thumbor path has no image id after its options")


def _option(segment: str, options: _Options, max_dimension: int) -> str | None:
    """Record one option segment and return its kind (a key of _RANKS); None: not an option."""
    if segment in ("fit-in", "smart", "center", "middle"):
        options.fit_in = options.fit_in or segment == "fit-in"
        options.smart = options.smart or segment == "smart"
        return segment
    if segment.startswith("filters:"):
        _filters(segment, options)
        return "filters"
    if size := _SIZE.fullmatch(segment):
        options.w = _dimension(size["w_sign"], size["w"], "width", segment, max_dimension)
        options.h = _dimension(size["h_sign"], size["h"], "height", segment, max_dimension)
        return "size"
    if segment in _REFUSED:
        raise InvalidInput(f"thumbor segment {segment!r}: {_REFUSED[segment]}")
    if segment == "trim" or segment.startswith("trim:"):
        raise InvalidInput(f"thumbor segment {segment!r}: trim is not supported")
    if _CROP.fullmatch(segment):
        raise InvalidInput(
            f"thumbor segment {segment!r}: manual crops (AxB:CxD) are not supported; "
            "use WxH, with smart for an attention crop"
        )
    if _SIZE_LIKE.fullmatch(segment):
        raise InvalidInput(f"thumbor size {segment!r} is not WxH in digits")
    return None


def _dimension(sign: str, digits: str, name: str, segment: str, max_dimension: int) -> int:
    if sign:
        raise InvalidInput(
            f"thumbor size {segment!r}: a negative {name} means a flip, which is not supported"
        )
    if digits == "orig":
        raise InvalidInput(f"thumbor size {segment!r}: 'orig' is not supported; 0 keeps aspect")
    if not digits:
        return 0
    if len(digits) > 6 or int(digits) > max_dimension:
        raise InvalidInput(f"thumbor size {segment!r}: {name} is over {max_dimension}")
    return int(digits)


def _filters(segment: str, options: _Options) -> None:
    body = segment.removeprefix("filters:")
    if not body:
        raise InvalidInput("thumbor segment 'filters:' names no filter")
    seen: set[str] = set()
    for text in body.split(":"):
        match = _FILTER.fullmatch(text)
        if match is None:
            raise InvalidInput(f"thumbor filter {text!r} is not name(arguments)")
        name, args = match["name"], match["args"]
        if name in seen:
            raise InvalidInput(f"thumbor filter {name!r} is given twice")
        seen.add(name)
        if name == "format":
            if args not in FORMATS:
                raise InvalidInput(
                    f"thumbor filter {text!r}: format must be one of {', '.join(FORMATS)}"
                )
            options.format = args
        elif name == "quality":
            if not _DIGITS.fullmatch(args) or not 1 <= int(args) <= 100:
                raise InvalidInput(f"thumbor filter {text!r}: quality must be 1 to 100")
            options.quality = int(args)
        else:
            raise InvalidInput(
                f"thumbor filter {name!r} is not supported (only format and quality)"
            )


def _image_id(segments: list[str]) -> str:
    text = "/".join(segments)
    if not text:
        raise InvalidInput("thumbor path has no image id after its options")
    if _SCHEME.match(text) or text.startswith("/"):
        raise InvalidInput(
            f"thumbor image {text!r}: an absolute URL is not an image id "
            "(imagelake serves only its own images)"
        )
    if any(s in (".", "..") for s in segments):
        raise InvalidInput(f"thumbor image {text!r}: '.' and '..' segments are refused")
    if "" in segments:
        raise InvalidInput(f"thumbor image {text!r} has an empty path segment")
    if len(segments) > 1:
        if is_image_id(segments[-1]):
            raise InvalidInput(f"unsupported thumbor segment {segments[0]!r}")
        raise InvalidInput(f"thumbor image {text!r} is not one path segment")
    if not is_image_id(text):
        raise InvalidInput(f"thumbor image {text!r} is not an imagelake image id (a UUID)")
    return text


# thumbor keeps the original's format unless a filter names one; HEIC and TIFF become JPEG.
_KEPT_FORMATS = {"image/png": Format.PNG, "image/webp": Format.WEBP, "image/gif": Format.GIF}


def thumbor_variant(asked: ThumborRequest, content_type: str) -> Variant:
    """What thumbor would make: `fit-in` fits inside without enlarging; plain WxH crops to
    exactly that size (enlarging if it must), at the centre or, with `smart/`, by attention."""
    both = bool(asked.w and asked.h)
    fmt = Format(asked.format) if asked.format else _KEPT_FORMATS.get(content_type, Format.JPEG)
    return Variant(
        w=asked.w,
        h=asked.h,
        fit=Fit.COVER if both and not asked.fit_in else Fit.INSIDE,
        gravity=Gravity.SMART if asked.smart else Gravity.CENTER,
        format=fmt,
        quality=asked.quality or 0,
        enlarge=not asked.fit_in and bool(asked.w or asked.h),
    ).normalised()
