"""Fixtures for the Snowplow tests: the collector in-process with a fixed clock."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from sp_helpers import freeze, make_client

from driftline.store import DuckDBStore


@pytest.fixture
def sp_client(data_dir: Path, store: DuckDBStore) -> Iterator[TestClient]:
    """The app in-process; its collector's clock reads 2022-10-10 10:42:35.000 UTC."""
    with make_client(data_dir, store) as c:
        c.get("/health")
        freeze(c)
        yield c
