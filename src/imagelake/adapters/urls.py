"""How backend URLs name their parts, shared by the adapter registries."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from imagelake.domain.errors import ConfigError
from imagelake.domain.signing import Signer
from imagelake.ports import BackendSpec


def local_path(url: str) -> Path:
    """file:///abs/path -> /abs/path; sqlite://rel/path -> rel/path."""
    parts = urlsplit(url)
    return Path(unquote(parts.netloc + parts.path))


def host(url: str) -> str:
    """The bucket, table prefix or queue name of s3://, dynamodb:// and sqs:// URLs."""
    return urlsplit(url).netloc


def signer_of(spec: BackendSpec) -> Signer:
    if spec.signer is None:
        raise ConfigError(f"{spec.url}: a blob store that signs URLs needs the signing key")
    return spec.signer
