"""Key management over HTTP, for admins: create, list, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from imagelake.api.deps import AdminDep, ServicesDep
from imagelake.api.schemas import ErrorOut, KeyIn, KeyOut, NewKeyOut

router = APIRouter(prefix="/keys", tags=["keys"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 401, 403, 404, 422)
}


@router.post("", status_code=201, response_model=NewKeyOut, responses=ERRORS)
async def create_key(body: KeyIn, services: ServicesDep, caller: AdminDep) -> NewKeyOut:
    """A new key for a user; its token is in this reply only (only its hash is stored)."""
    key, token = await run_in_threadpool(services.keys.create, body.user_id, body.email, body.role)
    return NewKeyOut(**KeyOut.of(key).model_dump(), token=token)


@router.get("", response_model=list[KeyOut], responses=ERRORS)
def list_keys(services: ServicesDep, caller: AdminDep) -> list[KeyOut]:
    return [KeyOut.of(key) for key in services.keys.list()]


@router.delete("/{key_id}", response_model=KeyOut, responses=ERRORS)
def revoke_key(key_id: str, services: ServicesDep, caller: AdminDep) -> KeyOut:
    """Revoke a key; its dashboard sessions end with it."""
    return KeyOut.of(services.keys.revoke(key_id))
