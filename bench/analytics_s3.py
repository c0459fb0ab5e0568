"""The event lake on S3 (a local moto server): the cost of reaching DuckDB through the port.

DuckDB's own S3 support (httpfs) is an extension downloaded at run time; offline, `INSTALL
httpfs` fails. imagelake feeds DuckDB local files instead: raw batches fetched through
`S3BlobStore` (8 GETs in flight), Parquet parts cached by their immutable names. Same data,
same run:

- compaction with the archive on S3 vs in a local directory;
- the top-images query on S3: cold (parts fetched into the cache) and warm, vs local;
- the alternative the issue names: pyarrow's S3FileSystem streaming the same parts into
  DuckDB as Arrow, for the same query.

Informational: no target, exit status 0. `python -m bench.analytics_s3 [--events N]`
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from tests.moto_server import MotoServer

from bench._lake_data import Shape, generate
from bench.analytics import load, timed
from imagelake.adapters.aws.s3 import S3BlobStore
from imagelake.adapters.embedded.duckdb_engine import DuckDBEngine
from imagelake.adapters.embedded.files import LocalBlobStore
from imagelake.domain.signing import Signer
from imagelake.lake.analytics import Analytics
from imagelake.lake.compaction import LakeCompactor
from imagelake.lake.reports import Filters

TOP_IMAGES = (
    "SELECT image_id, count(*) AS n, count(DISTINCT user_id) FROM parts "
    "GROUP BY image_id ORDER BY n DESC, image_id LIMIT 10"
)


def upload(local: LocalBlobStore, s3: S3BlobStore) -> int:
    keys = list(local.list("events/raw/"))
    for key in keys:
        s3.put(key, local.get(key), "application/x-ndjson")
    return len(keys)


def pyarrow_s3(endpoint: str, bucket: str, prefix: str) -> Any:
    """The top-images query with pyarrow's S3 filesystem feeding DuckDB."""
    fs = pafs.S3FileSystem(
        access_key="bench", secret_key="bench", endpoint_override=endpoint, region="us-east-1"
    )
    dataset = ds.dataset(f"{bucket}/{prefix}/events/parquet", filesystem=fs, format="parquet")
    con = duckdb.connect()
    try:
        con.register("parts", dataset.to_table(columns=["image_id", "user_id"]))
        return con.execute(TOP_IMAGES).fetchall()
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=500_000)
    args = parser.parse_args([] if argv is None else argv)
    shape = Shape(args.events, images=args.events // 10, users=args.events // 100, days=10)
    print(f"load average before: {load()}", flush=True)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with tempfile.TemporaryDirectory(prefix="imagelake-bench-") as tmp, MotoServer() as url:
        os.environ["AWS_ENDPOINT_URL"] = url
        from imagelake.adapters.aws.clients import client

        root = Path(tmp) / "local"
        generate(root, shape)
        local = LocalBlobStore(root, "http://bench.invalid", Signer(b"bench", ()))
        bucket = f"lake-{uuid.uuid4().hex[:12]}"
        client("s3").create_bucket(Bucket=bucket)
        s3 = S3BlobStore(client("s3"), bucket, "lake")
        objects = upload(local, s3)

        s3_compact = timed(lambda: LakeCompactor(s3, DuckDBEngine()).compact(all_hours=True))
        local_compact = timed(lambda: LakeCompactor(local, DuckDBEngine()).compact(all_hours=True))
        s3_analytics = Analytics(s3, DuckDBEngine(), Path(tmp) / "cache")
        local_analytics = Analytics(local, DuckDBEngine(), Path(tmp) / "unused")
        cold = timed(lambda: s3_analytics.top_images(Filters()))
        warm = timed(lambda: s3_analytics.top_images(Filters()), 3)
        here = timed(lambda: local_analytics.top_images(Filters()), 3)
        arrow = timed(lambda: pyarrow_s3(url, bucket, "lake"), 3)
        shutil.rmtree(root)

    events = s3_compact[2].events
    assert events == local_compact[2].events
    assert [r.image_id for r in warm[2]] == [r[0] for r in arrow[2]]
    print(f"{events:,} events in {objects:,} raw objects on S3 (moto on loopback)")
    print(
        f"compaction  S3 {s3_compact[0]:6.2f} s ({events / s3_compact[0]:>9,.0f} events/s)"
        f" | local {local_compact[0]:6.2f} s ({events / local_compact[0]:>9,.0f} events/s)"
        f" | S3/local {s3_compact[0] / local_compact[0]:.1f}x"
    )
    print(
        f"top images  S3 cold {cold[0]:.3f} s | S3 warm {warm[0]:.3f} s | local {here[0]:.3f} s"
        f" | pyarrow S3FileSystem -> DuckDB {arrow[0]:.3f} s"
        f" ({arrow[0] / warm[0]:.1f}x the warm cache)"
    )
    print(f"load average after: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
