"""The destination contract on warehouses that run here: PostgreSQL, DuckDB files."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
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


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
class TestSnowflake(WarehouseContract):
    """The real connector code, patched by fakesnow onto DuckDB (``write_pandas`` included)."""

    @pytest.fixture(autouse=True)
    def fake_snowflake(self) -> Iterator[None]:
        fakesnow = pytest.importorskip("fakesnow")
        with fakesnow.patch():
            yield

    def table(self, wh: object, name: str) -> str:
        return f'"{wh.schema}"."{name.upper()}"'  # type: ignore[attr-defined]

    @pytest.fixture
    def destination_url(self) -> str:
        return f"snowflake://fake:snow@account/DL_PIPELINES/S{uuid.uuid4().hex[:8].upper()}"

    @pytest.fixture
    def second_destination_url(self) -> str:
        return f"snowflake://fake:snow@account/DL_PIPELINES/S{uuid.uuid4().hex[:8].upper()}"
