"""The destination contract on warehouses that run here: PostgreSQL, DuckDB files."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from .warehouses import WarehouseContract


@pytest.mark.e2e
class TestPostgres(WarehouseContract):
    @pytest.fixture
    def destination_url(self, pg_database: str) -> str:
        return f"{pg_database}?schema=dl_pipelines_{uuid.uuid4().hex[:8]}"

    @pytest.fixture
    def second_destination_url(self, pg_database: str) -> str:
        return f"{pg_database}?schema=dl_pipelines_{uuid.uuid4().hex[:8]}"


class TestDuckDBFile(WarehouseContract):
    @pytest.fixture
    def destination_url(self, tmp_path: Path) -> str:
        return f"duckdb://{tmp_path}/warehouse.duckdb"

    @pytest.fixture
    def second_destination_url(self, tmp_path: Path) -> str:
        return f"duckdb://{tmp_path}/warehouse.duckdb?schema=second"
