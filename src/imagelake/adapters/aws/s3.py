"""BlobStore on S3: multipart uploads for large objects, SigV4 presigned GET and POST."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from imagelake.adapters.aws.clients import aws_errors, error_code, region
from imagelake.adapters.blob_keys import (
    content_type_for,
    open_source,
    validate_key,
    validate_prefix,
)
from imagelake.domain.errors import InvalidInput
from imagelake.ports import BlobMeta

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import CORSRuleTypeDef, CreateBucketRequestTypeDef

MiB = 1024 * 1024
MAX_PRESIGN_TTL = 7 * 24 * 3600  # SigV4 refuses longer-lived signatures
TRANSFER = TransferConfig(
    multipart_threshold=16 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4
)


class S3BlobStore:
    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self._s3 = client
        self.bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def local_path(self, key: str) -> None:
        return None

    def provision(self, upload_origin: str = "") -> list[str]:
        """Create the bucket (idempotent) and, for an upload_origin, the CORS rule browsers
        need to upload from there; say what was done."""
        done = [self._create_bucket()]
        if upload_origin:
            done.append(self._allow_browser_uploads(upload_origin))
        return done

    def put(self, key: str, data: bytes, content_type: str) -> None:
        extra = {"ContentType": content_type or content_type_for(key)}
        with aws_errors(f"put s3://{self.bucket}/{self._key(key)}"):
            self._s3.upload_fileobj(
                io.BytesIO(data), self.bucket, self._key(key), ExtraArgs=extra, Config=TRANSFER
            )

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        extra = {"ContentType": content_type or content_type_for(key)}
        source = open_source(path, key)
        with source, aws_errors(f"put s3://{self.bucket}/{self._key(key)}"):
            self._s3.upload_fileobj(
                source, self.bucket, self._key(key), ExtraArgs=extra, Config=TRANSFER
            )

    def get(self, key: str) -> bytes:
        with aws_errors(f"get s3://{self.bucket}/{self._key(key)}"):
            response = self._s3.get_object(Bucket=self.bucket, Key=self._key(key))
            with response["Body"] as body:
                data: bytes = body.read()
                return data

    def head(self, key: str) -> BlobMeta:
        with aws_errors(f"head s3://{self.bucket}/{self._key(key)}"):
            response = self._s3.head_object(Bucket=self.bucket, Key=self._key(key))
        return BlobMeta(
            key=key,
            size=int(response["ContentLength"]),
            content_type=response.get("ContentType") or "application/octet-stream",
            etag=response.get("ETag", ""),
            modified=response["LastModified"],
        )

    def delete(self, key: str) -> None:
        with aws_errors(f"delete s3://{self.bucket}/{self._key(key)}"):
            self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str) -> Iterator[str]:
        validate_prefix(prefix)
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        with aws_errors(f"list s3://{self.bucket}/{self._prefix}{prefix}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._prefix + prefix):
                keys.extend(item["Key"][len(self._prefix) :] for item in page.get("Contents", ()))
        # S3 orders by UTF-8 bytes; Python's str order is the one every other store uses.
        return iter(sorted(keys))

    def signed_url(self, key: str, ttl: int) -> str:
        _check_ttl(ttl)
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        with aws_errors(f"presign s3://{self.bucket}/{self._key(key)}"):
            url: str = self._s3.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=ttl, HttpMethod="GET"
            )
            return url

    def presigned_post(
        self, key: str, content_type: str, max_bytes: int, ttl: int
    ) -> dict[str, Any]:
        """A browser form upload of at most max_bytes to key: {'url': ..., 'fields': {...}}."""
        _check_ttl(ttl)
        if max_bytes < 1:
            raise InvalidInput("max_bytes must be at least 1")
        fields = {"Content-Type": content_type}
        conditions: list[Any] = [
            {"Content-Type": content_type},
            ["content-length-range", 1, max_bytes],
        ]
        with aws_errors(f"presign POST s3://{self.bucket}/{self._key(key)}"):
            post: dict[str, Any] = self._s3.generate_presigned_post(
                Bucket=self.bucket,
                Key=self._key(key),
                Fields=fields,
                Conditions=conditions,
                ExpiresIn=ttl,
            )
            return post

    def _key(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def _create_bucket(self) -> str:
        with aws_errors(f"create s3 bucket {self.bucket}"):
            try:
                self._s3.head_bucket(Bucket=self.bucket)
                return f"s3 bucket {self.bucket}: exists"
            except ClientError as exc:
                if error_code(exc) not in ("404", "NoSuchBucket"):
                    raise
            request: CreateBucketRequestTypeDef = {"Bucket": self.bucket}
            if region() != "us-east-1":  # the one region that refuses a location constraint
                # The environment may name a region newer than the stubs' list of them.
                where = cast("BucketLocationConstraintType", region())
                request["CreateBucketConfiguration"] = {"LocationConstraint": where}
            try:
                self._s3.create_bucket(**request)
            except ClientError as exc:
                if error_code(exc) != "BucketAlreadyOwnedByYou":
                    raise
                return f"s3 bucket {self.bucket}: exists"
        return f"s3 bucket {self.bucket}: created"

    def _allow_browser_uploads(self, origin: str) -> str:
        """CORS for presigned POST uploads from the web UI, unless the bucket has its own rules."""
        with aws_errors(f"configure CORS on s3 bucket {self.bucket}"):
            try:
                self._s3.get_bucket_cors(Bucket=self.bucket)
                return f"s3 bucket {self.bucket}: CORS rules exist, left alone"
            except ClientError as exc:
                if error_code(exc) != "NoSuchCORSConfiguration":
                    raise
            rule: CORSRuleTypeDef = {
                "AllowedMethods": ["GET", "POST"],
                "AllowedOrigins": [origin],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": 3600,
            }
            self._s3.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": [rule]})
        return f"s3 bucket {self.bucket}: CORS allows browser uploads from {origin}"


def _check_ttl(ttl: int) -> None:
    if not 1 <= ttl <= MAX_PRESIGN_TTL:
        raise InvalidInput(f"a signed URL lives between 1 second and {MAX_PRESIGN_TTL} seconds")
