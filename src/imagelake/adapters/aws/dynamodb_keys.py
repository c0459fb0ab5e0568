"""API keys and dashboard sessions on DynamoDB, in `<prefix>-keys` and `<prefix>-sessions`.

A key is two items written in one transaction: `hash#<key hash>`, the key itself (read on
every request), and `id#<key id>`, which points at it (to revoke by id). A session is one
item, found by its hash or, through the by_key index, by the key that opened it. The
table's TTL sweeps ended sessions some time (up to days) after they end; the service checks
the end itself, so a session that is over but not swept yet lets nobody in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagelake.adapters.aws.clients import aws_errors
from imagelake.adapters.aws.dynamodb_codec import (
    BY_KEY,
    KEY_BY_HASH,
    KEY_BY_ID,
    Tables,
    key_item,
    s,
    session_item,
    to_key,
    to_session,
    utc,
)
from imagelake.adapters.aws.dynamodb_tables import put_new, read_item, transact, unless_failed
from imagelake.domain.errors import Conflict, NotFound
from imagelake.domain.images import ApiKey, DashboardSession

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoDBKeys:
    def __init__(self, client: DynamoDBClient, tables: Tables) -> None:
        self._db = client
        self._tables = tables

    def add_key(self, key: ApiKey) -> None:
        pointer = {"pk": s(KEY_BY_ID + key.key_id), "key_hash": s(key.key_hash)}
        reasons = transact(
            self._db,
            f"add API key {key.key_id}",
            put_new(self._tables.keys, pointer),
            put_new(self._tables.keys, key_item(key)),
        )
        if reasons:
            raise Conflict(f"API key {key.key_id} already exists")

    def find_key(self, key_hash: str) -> ApiKey | None:
        item = read_item(self._db, self._tables.keys, KEY_BY_HASH + key_hash)
        return None if item is None else to_key(item)

    def list_keys(self) -> list[ApiKey]:
        keys: list[ApiKey] = []
        pages = self._db.get_paginator("scan").paginate(
            TableName=self._tables.keys,
            ConsistentRead=True,
            FilterExpression="begins_with(pk, :hash)",
            ExpressionAttributeValues={":hash": s(KEY_BY_HASH)},
        )
        with aws_errors("list API keys"):
            for page in pages:
                keys.extend(to_key(item) for item in page.get("Items", []))
        return sorted(keys, key=lambda k: (utc(k.created_at), k.key_id))

    def revoke_key(self, key_id: str) -> ApiKey:
        pointer = read_item(self._db, self._tables.keys, KEY_BY_ID + key_id)
        if pointer is None:
            raise NotFound(f"no API key {key_id}")
        with unless_failed(f"revoke API key {key_id}", NotFound(f"no API key {key_id}")):
            response = self._db.update_item(
                TableName=self._tables.keys,
                Key={"pk": s(KEY_BY_HASH + pointer["key_hash"]["S"])},
                UpdateExpression="SET revoked = :yes",
                ConditionExpression="attribute_exists(pk)",  # never make half a key
                ExpressionAttributeValues={":yes": {"BOOL": True}},
                ReturnValues="ALL_NEW",
            )
        return to_key(response["Attributes"])

    def add_session(self, session: DashboardSession) -> None:
        with unless_failed("open a dashboard session", Conflict("that session already exists")):
            self._db.put_item(
                TableName=self._tables.sessions,
                Item=session_item(session),
                ConditionExpression="attribute_not_exists(pk)",
            )

    def find_session(self, session_hash: str) -> DashboardSession | None:
        item = read_item(self._db, self._tables.sessions, session_hash)
        return None if item is None else to_session(item)

    def delete_sessions(
        self, *, session_hash: str | None = None, key_hash: str | None = None
    ) -> int:
        doomed = set() if session_hash is None else {session_hash}
        if key_hash is not None:
            # The index is eventually consistent: a session opened a moment ago may be
            # missed, but a revoked key lets no session in (the service checks the key).
            doomed.update(self._sessions_of(key_hash))
        return sum(self._delete_session(doomed_hash) for doomed_hash in doomed)

    def _sessions_of(self, key_hash: str) -> list[str]:
        pages = self._db.get_paginator("query").paginate(
            TableName=self._tables.sessions,
            IndexName=BY_KEY,
            KeyConditionExpression="key_hash = :key",
            ExpressionAttributeValues={":key": s(key_hash)},
        )
        with aws_errors("find the dashboard sessions of a key"):
            return [item["pk"]["S"] for page in pages for item in page.get("Items", [])]

    def _delete_session(self, session_hash: str) -> bool:
        with aws_errors("end a dashboard session"):
            response = self._db.delete_item(
                TableName=self._tables.sessions,
                Key={"pk": s(session_hash)},
                ReturnValues="ALL_OLD",
            )
        return "Attributes" in response
