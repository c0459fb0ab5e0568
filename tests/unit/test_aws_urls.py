"""S3 presigned URLs, checked on the URL itself: presigning is local, nothing is sent.

moto serves presigned URLs without checking their signature or expiry, so what S3 would
enforce is asserted here, on the parameters S3 reads.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest

from imagelake.adapters.aws.clients import client_config
from imagelake.adapters.aws.s3 import MAX_PRESIGN_TTL, S3BlobStore
from imagelake.domain.errors import InvalidInput

ENDPOINT = "http://127.0.0.1:9"  # the discard port: a request sent there would fail
ACCESS_KEY = "AKIDEXAMPLE"


def s3_client(endpoint: str | None) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key="secret", region_name="us-east-1"
    )
    return session.client("s3", endpoint_url=endpoint, config=client_config("s3", endpoint))


@pytest.fixture
def sent() -> list[Any]:
    return []


@pytest.fixture
def store(sent: list[Any]) -> Iterator[S3BlobStore]:
    s3 = s3_client(ENDPOINT)
    s3.meta.events.register("before-send", lambda request, **_: sent.append(request))
    yield S3BlobStore(s3, "photos", prefix="lake")
    assert sent == []  # presigning never touches the network


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_signed_url_is_a_sigv4_presigned_get(store: S3BlobStore) -> None:
    url = store.signed_url("originals/a.jpg", 900)

    params = query(url)
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Expires"] == "900"
    assert params["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/")
    assert params["X-Amz-Credential"].endswith("/us-east-1/s3/aws4_request")
    assert params["X-Amz-SignedHeaders"] == "host"
    assert len(params["X-Amz-Signature"]) == 64


def test_signed_url_names_bucket_and_prefixed_key_in_the_path(store: S3BlobStore) -> None:
    url = store.signed_url("odd/été #1?.jpg", 60)

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == ENDPOINT
    assert unquote(parts.path) == "/photos/lake/odd/été #1?.jpg"  # path style at an endpoint


def test_signed_url_is_dated_now(store: S3BlobStore) -> None:
    signed_at = datetime.strptime(
        query(store.signed_url("a.jpg", 60))["X-Amz-Date"], "%Y%m%dT%H%M%SZ"
    )

    assert abs(signed_at.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=5)


def test_ttl_changes_the_signature(store: S3BlobStore) -> None:
    short, long = query(store.signed_url("a.jpg", 60)), query(store.signed_url("a.jpg", 3600))

    assert (short["X-Amz-Expires"], long["X-Amz-Expires"]) == ("60", "3600")
    assert short["X-Amz-Signature"] != long["X-Amz-Signature"]


def test_longest_ttl_sigv4_allows(store: S3BlobStore) -> None:
    assert query(store.signed_url("a.jpg", MAX_PRESIGN_TTL))["X-Amz-Expires"] == "604800"


@pytest.mark.parametrize("ttl", [0, -1, MAX_PRESIGN_TTL + 1])
def test_ttl_out_of_sigv4_range_is_invalid(store: S3BlobStore, ttl: int) -> None:
    with pytest.raises(InvalidInput):
        store.signed_url("a.jpg", ttl)
    with pytest.raises(InvalidInput):
        store.presigned_post("a.jpg", "image/jpeg", 100, ttl)


@pytest.mark.parametrize("key", ["", "../a.jpg", "/etc/passwd", "a//b"])
def test_bad_keys_are_never_signed(store: S3BlobStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        store.signed_url(key, 60)
    with pytest.raises(InvalidInput):
        store.presigned_post(key, "image/jpeg", 100, 60)


def test_without_an_endpoint_the_bucket_is_in_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)  # boto3 would read them itself
    url = S3BlobStore(s3_client(None), "photos").signed_url("a.jpg", 60)

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "photos.s3.amazonaws.com",
        "/a.jpg",
    )


def test_presigned_post_limits_size_and_type(store: S3BlobStore) -> None:
    post = store.presigned_post("uploads/x.jpg", "image/jpeg", max_bytes=5_000_000, ttl=600)

    fields = post["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert post["url"] == f"{ENDPOINT}/photos"
    assert fields["key"] == "lake/uploads/x.jpg"
    assert fields["Content-Type"] == "image/jpeg"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert ["content-length-range", 1, 5_000_000] in policy["conditions"]
    assert {"Content-Type": "image/jpeg"} in policy["conditions"]
    assert {"bucket": "photos"} in policy["conditions"]
    assert {"key": "lake/uploads/x.jpg"} in policy["conditions"]
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert abs(expires - (datetime.now(UTC) + timedelta(seconds=600))) < timedelta(minutes=5)


def test_presigned_post_needs_room_for_a_byte(store: S3BlobStore) -> None:
    with pytest.raises(InvalidInput):
        store.presigned_post("uploads/x.jpg", "image/jpeg", max_bytes=0, ttl=600)
