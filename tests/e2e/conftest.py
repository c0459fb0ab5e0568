from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.service import Service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """A fresh embedded imagelake (API + 2 workers) with its own data dir and an API key."""
    svc = Service(tmp_path / "data").start()
    yield svc
    svc.stop()
