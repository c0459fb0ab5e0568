"""The event lake with its archive on S3 (moto server): compaction and queries through the port."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from imagelake.adapters.aws.clients import client
from imagelake.adapters.aws.s3 import S3BlobStore
from imagelake.adapters.embedded.duckdb_engine import DuckDBEngine
from imagelake.lake.analytics import Analytics
from imagelake.lake.compaction import LakeCompactor
from imagelake.lake.reports import Filters
from tests.lake_rig import archive, by_day, image_counts, requests


@pytest.fixture
def s3(aws_endpoint: str) -> Any:
    return client("s3")


def test_compaction_and_queries_on_s3(s3: Any, tmp_path: Path) -> None:
    bucket = f"lake-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=bucket)
    lake = S3BlobStore(s3, bucket, prefix="prod")
    reqs = requests(300)
    archive(lake, [r.body for r in reqs[:200]])
    archive(lake, [r.body for r in reqs[150:]])  # 50 redelivered
    analytics = Analytics(lake, DuckDBEngine(), tmp_path / "cache")
    raw_days = analytics.by_day(Filters())

    report = LakeCompactor(lake, DuckDBEngine()).compact()
    again = LakeCompactor(lake, DuckDBEngine()).compact()

    assert report.events == len(reqs) and report.duplicates_dropped == 50
    assert again.compacted == [] and again.up_to_date == len(by_day(reqs))
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="prod/events/parquet/")["Contents"]
    parts = [o["Key"] for o in listed if o["Key"].endswith(".parquet")]
    assert len(parts) == len(by_day(reqs))
    head = s3.head_object(Bucket=bucket, Key=parts[0])
    assert head["ContentType"] == "application/vnd.apache.parquet"
    days = analytics.by_day(Filters())
    assert days == raw_days
    assert {str(d.day): (d.requests, d.unique_users, d.unique_images) for d in days} == by_day(reqs)
    top = analytics.top_images(Filters(), top=1)
    assert (top[0].requests, top[0].unique_users) == image_counts(reqs)[top[0].image_id]
    assert analytics.summary(Filters()).requests == len(reqs)
