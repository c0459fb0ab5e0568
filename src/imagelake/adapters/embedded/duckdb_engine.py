"""The lake's SQL engine: in-process DuckDB, kept off the network.

DuckDB is imported on the first connection: the API and workers build this engine at start
and most of them never query the lake.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

from imagelake.domain.errors import BackendError, UnreadableData

FINGERPRINT_PROBE = "SELECT CAST(hash('imagelake fingerprint probe') >> 1 AS BIGINT)"


class DuckDBConnection:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with _translated(""):
            return self._con.execute(sql, params).fetchall()

    def close(self) -> None:
        self._con.close()


class DuckDBEngine:
    def connect(self, threads: int | None = None) -> DuckDBConnection:
        # Extensions are never fetched: httpfs and friends would reach for the network.
        config: dict[str, str | bool | int | float | list[str]] = {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        if threads:
            config["threads"] = threads
        import duckdb

        with _translated("open DuckDB"):
            return DuckDBConnection(duckdb.connect(":memory:", config=config))

    def fingerprint_probe(self) -> int:
        return _probe()


@functools.cache
def _probe() -> int:
    con = DuckDBEngine().connect(1)
    try:
        ((value,),) = con.execute(FINGERPRINT_PROBE)
    finally:
        con.close()
    return int(value)


@contextmanager
def _translated(what: str) -> Iterator[None]:
    import duckdb

    try:
        yield
    except duckdb.Error as exc:
        # Bad input (malformed JSON, a value out of a type's range) is not worth a retry.
        data = (
            duckdb.InvalidInputException,
            duckdb.ConversionException,
            duckdb.OutOfRangeException,
        )
        error = UnreadableData if isinstance(exc, data) else BackendError
        raise error(f"{what}: {exc}" if what else str(exc)) from exc
