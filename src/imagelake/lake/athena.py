"""Athena tables over the lake's S3 prefix: the raw JSON and the compacted Parquet.

Partition projection computes partitions from the key layout, so neither table ever needs
MSCK REPAIR or a crawler. deploy/template.yaml declares both as Glue tables with the same
columns, partitions, storage and projection; a test keeps them in step with the DDL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from imagelake.domain.events import EventName
from imagelake.lake.archive import RAW_PREFIX
from imagelake.lake.layout import PARQUET_PREFIX

PLACEHOLDER_LOCATION = "s3://YOUR-LAKE-BUCKET"
FIRST_DAY = "2020-01-01"


@dataclass(frozen=True)
class Table:
    name: str
    prefix: str  # below the lake root
    columns: tuple[tuple[str, str], ...]
    partitions: tuple[str, ...]  # all strings, each projected
    storage: str  # the STORED AS / ROW FORMAT clause

    def projection(self, location: str) -> dict[str, str]:
        props = {"projection.enabled": "true"}
        if "event_name" in self.partitions:
            props["projection.event_name.type"] = "enum"
            props["projection.event_name.values"] = ",".join(EventName)
        if "dt" in self.partitions:
            props["projection.dt.type"] = "date"
            props["projection.dt.format"] = "yyyy-MM-dd"
            props["projection.dt.range"] = f"{FIRST_DAY},NOW"
            props["projection.dt.interval"] = "1"
            props["projection.dt.interval.unit"] = "DAYS"
        if "hour" in self.partitions:
            props["projection.hour.type"] = "integer"
            props["projection.hour.range"] = "0,23"
            props["projection.hour.digits"] = "2"
        template = "/".join(f"{p}=${{{p}}}" for p in self.partitions)
        props["storage.location.template"] = f"{location}/{self.prefix}/{template}/"
        return props


RAW_TABLE = Table(
    name="events_raw",
    prefix=RAW_PREFIX,
    columns=(
        ("key", "string"),
        ("received_at", "string"),  # ISO 8601: from_iso8601_timestamp(received_at)
        ("user_id", "string"),
        ("image_id", "string"),
        ("timestamp", "string"),
        ("event_id", "string"),
        ("variant", "string"),
        ("raw", "string"),
    ),
    partitions=("event_name", "dt", "hour"),
    storage="ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'",
)

PARQUET_TABLE = Table(
    name="events",
    prefix=PARQUET_PREFIX,
    columns=(
        ("key", "string"),
        ("received_at", "timestamp"),
        ("user_id", "string"),
        ("image_id", "string"),
        ("timestamp", "timestamp"),
        ("variant", "string"),  # NULL in parts compacted before it was kept
        ("user_key", "bigint"),  # fingerprints DuckDB groups by; ignore them in Athena
        ("image_key", "bigint"),
    ),
    partitions=("event_name", "dt"),
    storage="STORED AS PARQUET",
)


def lake_location(archive_url: str) -> str:
    """The s3:// root of the lake for an archive store URL, or a placeholder."""
    parts = urlsplit(archive_url)
    if parts.scheme != "s3" or not parts.netloc:
        return PLACEHOLDER_LOCATION
    prefix = parts.path.strip("/")
    return f"s3://{parts.netloc}" + (f"/{prefix}" if prefix else "")


def create_table(table: Table, location: str, database: str) -> str:
    columns = ",\n".join(f"  `{name}` {kind}" for name, kind in table.columns)
    partitions = ", ".join(f"`{p}` string" for p in table.partitions)
    props = ",\n".join(f"  '{k}' = '{v}'" for k, v in table.projection(location).items())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table.name}` (\n{columns}\n)\n"
        f"PARTITIONED BY ({partitions})\n{table.storage}\n"
        f"LOCATION '{location}/{table.prefix}/'\n"
        f"TBLPROPERTIES (\n{props}\n);\n"
    )


def athena_ddl(location: str, database: str = "imagelake") -> str:
    """CREATE DATABASE plus both tables, ready to paste into the Athena console."""
    return "\n".join(
        [
            f"CREATE DATABASE IF NOT EXISTS `{database}`;\n",
            "-- Every event as archived (complete, may hold redelivered duplicates: use key).",
            create_table(RAW_TABLE, location, database),
            "-- Compacted, deduplicated Parquet (closed hours; the newest ones are in raw only).",
            create_table(PARQUET_TABLE, location, database),
        ]
    )
