"""The destination contract on warehouses that run here: PostgreSQL, DuckDB files, and
Snowflake through fakesnow. Each class says how to make a fresh destination URL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .warehouses import WarehouseContract

UrlFor = Callable[[str], str]


@pytest.mark.e2e
class TestPostgres(WarehouseContract):
    @pytest.fixture
    def url_for(self, pg_database: str) -> UrlFor:
        return lambda name: f"{pg_database}?schema=dl_pipelines_{name}_{uuid.uuid4().hex[:8]}"


@pytest.mark.e2e
class TestPostgresSlicedStream(TestPostgres):
    """The same contract with one step's COPY fed many small batches, each in several
    slices: a kill between batches lands in the middle of the open COPY."""

    @pytest.fixture(autouse=True)
    def small_batches(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from driftline.pipelines import warehouse_export
        from driftline.pipelines.destinations.postgres import client

        monkeypatch.setattr(warehouse_export, "STREAM_BATCH_ROWS", 50)
        monkeypatch.setattr(client, "COPY_CHUNK_ROWS", 7)


class TestDuckDBFile(WarehouseContract):
    @pytest.fixture
    def url_for(self, tmp_path: Path) -> UrlFor:
        return lambda name: f"duckdb://{tmp_path}/warehouse.duckdb?schema={name}"


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
    def url_for(self) -> UrlFor:
        return lambda name: (
            f"snowflake://fake:snow@account/DL_PIPELINES/S{uuid.uuid4().hex[:8].upper()}"
        )
