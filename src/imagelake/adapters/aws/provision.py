"""Create the AWS resources the configured s3://, dynamodb://, sqs:// and sns:// URLs name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from imagelake.adapters.aws.clients import aws_errors, client, error_code, region
from imagelake.adapters.aws.dynamodb import DynamoDBCatalog
from imagelake.adapters.aws.sqs import SqsQueue
from imagelake.domain.errors import ConfigError

if TYPE_CHECKING:
    from imagelake.config import Settings

UPLOAD_CORS = {
    "AllowedMethods": ["GET", "POST"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag"],
    "MaxAgeSeconds": 3600,
}


def provision(settings: Settings) -> list[str]:
    """Create what the settings need, idempotently; one line per resource on what was done."""
    done: list[str] = []
    stores = [settings.blobs_url, settings.thumbnails_url, settings.archive_url]
    buckets = dict.fromkeys(urlsplit(url).netloc for url in stores if _scheme(url) == "s3")
    for bucket in buckets:
        done.append(create_bucket(client("s3"), bucket))
    if _scheme(settings.blobs_url) == "s3":
        origin = settings.public_url.rstrip("/") or "*"
        done.append(
            allow_browser_uploads(client("s3"), urlsplit(settings.blobs_url).netloc, origin)
        )
    if _scheme(settings.catalog_url) == "dynamodb":
        prefix = urlsplit(settings.catalog_url).netloc
        done.extend(DynamoDBCatalog(client("dynamodb"), prefix).provision())
    queues = [settings.queue_url, settings.jobs_queue_url]
    for name in dict.fromkeys(urlsplit(url).netloc for url in queues if _scheme(url) == "sqs"):
        done.extend(SqsQueue(client("sqs"), name).provision(settings.max_receives))
    if _scheme(settings.notify) == "sns":
        done.append(create_topic(client("sns"), settings.notify.removeprefix("sns://")))
    return done or ["nothing to do: no s3://, dynamodb://, sqs:// or sns:// backend configured"]


def _scheme(url: str) -> str:
    return urlsplit(url).scheme


def create_bucket(s3: Any, bucket: str) -> str:
    with aws_errors(f"create s3 bucket {bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
            return f"s3 bucket {bucket}: exists"
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchBucket"):
                raise
        options: dict[str, Any] = {}
        if region() != "us-east-1":  # the one region that refuses a location constraint
            options["CreateBucketConfiguration"] = {"LocationConstraint": region()}
        try:
            s3.create_bucket(Bucket=bucket, **options)
        except ClientError as exc:
            if error_code(exc) != "BucketAlreadyOwnedByYou":
                raise
            return f"s3 bucket {bucket}: exists"
    return f"s3 bucket {bucket}: created"


def allow_browser_uploads(s3: Any, bucket: str, origin: str) -> str:
    """CORS for presigned POST uploads from the web UI, unless the bucket has its own rules."""
    with aws_errors(f"configure CORS on s3 bucket {bucket}"):
        try:
            s3.get_bucket_cors(Bucket=bucket)
            return f"s3 bucket {bucket}: CORS rules exist, left alone"
        except ClientError as exc:
            if error_code(exc) != "NoSuchCORSConfiguration":
                raise
        rule = {**UPLOAD_CORS, "AllowedOrigins": [origin]}
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    return f"s3 bucket {bucket}: CORS allows browser uploads from {origin}"


def create_topic(sns: Any, topic_arn: str) -> str:
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[5]:
        raise ConfigError(f"IMAGELAKE_NOTIFY: {topic_arn!r} is not an SNS topic ARN")
    with aws_errors(f"create sns topic {parts[5]}"):
        created: str = sns.create_topic(Name=parts[5])["TopicArn"]
    if created != topic_arn:
        return f"sns topic {parts[5]}: is {created}, but IMAGELAKE_NOTIFY says {topic_arn}"
    return f"sns topic {topic_arn}: ready"
