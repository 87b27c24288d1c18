"""Fixtures for the ingestion API: a GeoIP test database and the app configured with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ingest_readback import build_geo_db

from driftline.config import load_settings
from driftline.server import create_app
from driftline.store import DuckDBStore


@pytest.fixture
def geo_db(tmp_path: Path) -> Path:
    return build_geo_db(tmp_path / "geo.mmdb")


@pytest.fixture
def geo_client(data_dir: Path, store: DuckDBStore, geo_db: Path) -> Iterator[TestClient]:
    """The app with a GeoIP database configured."""
    app = create_app(load_settings(data_dir=data_dir, geoip_database=geo_db), store=store)
    with TestClient(app, client=("203.0.113.7", 50000)) as c:
        yield c
