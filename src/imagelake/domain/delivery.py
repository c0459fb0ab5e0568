"""Delivery links: one signed URL names an image, a variant, the user it counts for, and when
it stops working.

The expiry is rounded up to a window, so every link minted for the same (image, variant,
user) within one window is the same string, and browsers and CDNs can keep what it returns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from imagelake.domain.errors import Forbidden, InvalidInput, NotFound
from imagelake.domain.events import MAX_ID_LENGTH
from imagelake.domain.images import is_image_id
from imagelake.domain.signing import Signer
from imagelake.domain.variants import Presets, Variant, parse_variant

LINK_PARAMS = ("u", "e", "s")  # attributed user, expiry (UNIX seconds), signature
NO_PRESETS = Presets({}, {})  # a link carries its variant spelled out, never a preset name
PATH = "/d/"


@dataclass(frozen=True)
class Link:
    image_id: str
    variant: Variant  # normalised
    user_id: str
    expires: int

    @property
    def message(self) -> str:
        """What the signature covers: every part of the link, variant in its normal form."""
        params = urlencode(sorted(self.variant.to_params().items()))
        return f"delivery\n{self.image_id}\n{params}\n{self.user_id}"

    def path(self, signer: Signer) -> str:
        """`/d/{image_id}?{variant}&u=..&e=..&s=..`, relative to the public base URL."""
        params = {**self.variant.to_params(), "u": self.user_id, "e": str(self.expires)}
        params["s"] = signer.signature(self.message, self.expires)
        return f"{PATH}{quote(self.image_id, safe='')}?{urlencode(params)}"


def window_expiry(now: float, ttl: int, window: int) -> int:
    """now + ttl, rounded up to the next multiple of window (links stay the same meanwhile)."""
    return math.ceil((now + ttl) / window) * window


def check_user_id(user_id: str) -> str:
    if not 0 < len(user_id) <= MAX_ID_LENGTH or not user_id.isprintable() or user_id.isspace():
        raise InvalidInput(f"user_id must be 1 to {MAX_ID_LENGTH} printable characters")
    return user_id


def unique_params(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query parameters, each given once: a repeated one is ambiguous, so refused."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidInput(f"parameter {name[:40]!r} is given more than once")
        params[name] = value
    return params


def read_link(
    image_id: str, query: Mapping[str, str], signer: Signer, now: float, max_dimension: int
) -> Link:
    """The link a request presents, if its signature holds and it has not expired.

    Forbidden for a missing, tampered or expired signature; NotFound for an id no link
    could name. The variant is parsed (and refused) like any other before the signature is
    checked, so its normal form is what was signed."""
    if not is_image_id(image_id):
        raise NotFound(f"no image {image_id[:64]!r}")
    user, expires, signature = (query.get(name, "") for name in LINK_PARAMS)
    if not user or not expires.isdigit() or len(expires) > 12 or not signature:
        raise Forbidden("a delivery link needs u, e and s: ask /images/{id}/download for one")
    params = {k: v for k, v in query.items() if k not in LINK_PARAMS}
    variant = parse_variant(params, NO_PRESETS, max_dimension)
    link = Link(image_id, variant, user, int(expires))
    signer.verify(link.message, link.expires, signature, now)
    return link
