"""The Athena DDL: both tables, partition projection on dt, located where the archive is."""

from __future__ import annotations

import re

from imagelake.lake.athena import PLACEHOLDER_LOCATION, athena_ddl, lake_location


def test_both_tables_project_their_partitions() -> None:
    ddl = athena_ddl("s3://my-lake/prod", "analytics")

    raw, parquet = re.findall(r"CREATE EXTERNAL TABLE IF NOT EXISTS `analytics`\.`(\w+)`", ddl)
    assert (raw, parquet) == ("events_raw", "events")
    raw_ddl, parquet_ddl = ddl.split("CREATE EXTERNAL TABLE")[1:]
    for table in (raw_ddl, parquet_ddl):
        assert "'projection.enabled' = 'true'" in table
        assert "'projection.dt.type' = 'date'" in table
        assert "'projection.dt.format' = 'yyyy-MM-dd'" in table
        assert "'projection.dt.range' = '2020-01-01,NOW'" in table
        assert "IMAGE_REQUESTED,IMAGE_UPLOADED,THUMBNAIL_CREATED,IMAGE_DELETED" in table
    assert "LOCATION 's3://my-lake/prod/events/raw/'" in raw_ddl
    assert "org.openx.data.jsonserde.JsonSerDe" in raw_ddl
    assert "PARTITIONED BY (`event_name` string, `dt` string, `hour` string)" in raw_ddl
    assert (
        "'storage.location.template' = "
        "'s3://my-lake/prod/events/raw/event_name=${event_name}/dt=${dt}/hour=${hour}/'"
    ) in raw_ddl
    assert "STORED AS PARQUET" in parquet_ddl
    assert "LOCATION 's3://my-lake/prod/events/parquet/'" in parquet_ddl
    assert "PARTITIONED BY (`event_name` string, `dt` string)" in parquet_ddl
    assert "`timestamp` timestamp" in parquet_ddl
    assert "projection.hour" not in parquet_ddl


def test_location_comes_from_the_archive_url() -> None:
    assert lake_location("s3://my-lake") == "s3://my-lake"
    assert lake_location("s3://my-lake/some/prefix/") == "s3://my-lake/some/prefix"
    assert lake_location("file:///var/lib/imagelake/blobs") == PLACEHOLDER_LOCATION
