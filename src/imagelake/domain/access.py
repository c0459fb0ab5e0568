"""Who may do what: the roles a key carries and the rules that follow from them.

A `user` key sees only its own images (someone else's is a 404, never a 403: that would
confirm it exists); a `producer` posts events for anyone; an `analyst` reads every stat;
an `admin` does everything, key management included.
"""

from __future__ import annotations

from enum import StrEnum

from imagelake.domain.errors import Forbidden, NotFound
from imagelake.domain.images import ApiKey, Image


class Role(StrEnum):
    USER = "user"
    PRODUCER = "producer"
    ANALYST = "analyst"
    ADMIN = "admin"


class Action(StrEnum):
    UPLOAD = "upload images"
    READ_IMAGES = "read images"
    DELETE_IMAGES = "delete images"
    POST_EVENTS = "post events"
    READ_STATS = "read stats"
    MANAGE_KEYS = "manage API keys"


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.USER: frozenset(
        {
            Action.UPLOAD,
            Action.READ_IMAGES,
            Action.DELETE_IMAGES,
            Action.POST_EVENTS,
            Action.READ_STATS,
        }
    ),
    Role.PRODUCER: frozenset({Action.POST_EVENTS}),
    Role.ANALYST: frozenset({Action.READ_STATS}),
    Role.ADMIN: frozenset(Action),
}


def role_of(key: ApiKey) -> Role:
    return Role(key.role)


def may(key: ApiKey, action: Action) -> bool:
    return action in ALLOWED[role_of(key)]


def require(key: ApiKey, action: Action) -> None:
    """Forbidden unless the key's role may take action at all."""
    if not may(key, action):
        raise Forbidden(f"a {key.role} key may not {action}")


def sees_all_images(key: ApiKey) -> bool:
    return role_of(key) == Role.ADMIN


def sees_all_stats(key: ApiKey) -> bool:
    """Analysts and admins see every stat, including events for ids imagelake never stored."""
    return role_of(key) in (Role.ANALYST, Role.ADMIN)


def as_user(key: ApiKey) -> str | None:
    """The only user_id the key may post events as; None for producers and admins (anyone)."""
    return None if role_of(key) in (Role.PRODUCER, Role.ADMIN) else key.user_id


def owner_filter(key: ApiKey) -> str | None:
    """The owner a listing is narrowed to: the key's own user, or None for everything."""
    return None if sees_all_images(key) else key.user_id


def check_owner(key: ApiKey, image: Image) -> Image:
    """The image, if the key may see it; NotFound (as if absent) otherwise."""
    if not sees_all_images(key) and image.owner != key.user_id:
        raise NotFound(f"no image {image.image_id}")
    return image
