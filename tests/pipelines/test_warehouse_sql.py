"""Warehouse SQL per dialect, checked against golden files (BigQuery and Redshift cannot
run here; Snowflake and PostgreSQL also run for real in the contract suite).

Regenerate after an intended change with ``DRIFTLINE_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlglot

from driftline.pipelines.destinations import Capabilities, capabilities_for
from driftline.pipelines.encode import histogram, plan_units
from driftline.pipelines.layout import Clock
from driftline.pipelines.spec import DataKind, Frequency
from driftline.pipelines.steps import Step
from driftline.pipelines.warehouse_export import WarehouseExport
from driftline.store import AppendEvents, DuckDBStore

from .conftest import make_events

GOLDEN = Path(__file__).parent / "golden"
URLS = {
    "bigquery": "bigquery://proj/analytics",
    "redshift": "redshift://u@cluster:5439/db?schema=analytics",
    "snowflake": "snowflake://u@acct/DB/ANALYTICS",
    "postgres": "postgresql://u@host/db?schema=analytics",
}


class RecordingWarehouse:
    """Records the statements and loads a step sends; answers "nothing there yet"."""

    def __init__(self, capabilities: Capabilities, schema: str) -> None:
        self.capabilities = capabilities
        self.schema: str | None = schema
        self.log: list[str] = []

    def check(self) -> None:
        return None

    def execute(self, sql: str) -> None:
        self.log.append(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return []

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.log.append("-- begin transaction")
        yield
        self.log.append("-- commit")

    def append(self, table: str, data: pa.Table, json_columns: list[str]) -> None:
        self.log.append(
            f"-- load {data.num_rows} rows into {table} ({', '.join(data.column_names)})"
        )

    def close(self) -> None:
        return None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "data")
    s.create_project("default")
    props = """to_json({'time': epoch_ms(t) // 1000, 'plan': 'team', '$browser': 'Chrome',
                        'price': 9.5, 'flags': {'beta': true}, 'O''Brien "quoted"': 'x'})"""
    s.apply(
        [
            AppendEvents(
                make_events(
                    40, dt.datetime(2026, 11, 1), dt.timedelta(days=2), extra_properties=props
                )
            )
        ]
    )
    yield s
    s.close()


@pytest.mark.parametrize("dialect", sorted(URLS))
def test_sql_matches_golden_file(store: DuckDBStore, dialect: str) -> None:
    caps = capabilities_for(URLS[dialect])
    schema = "ANALYTICS" if caps.uppercase else "analytics"
    wh = RecordingWarehouse(caps, schema)
    clock = Clock(Frequency.DAILY, "Europe/Berlin")
    step = Step("sync", None, dt.datetime(2030, 1, 1), run_id="golden")
    plan = plan_units(histogram(store, clock, step.selection(1)), 1000)
    export = WarehouseExport(wh)
    outcome = export.write_events(
        store, clock, store.get_project(1), step, plan, lambda _: None, 1000
    )
    assert outcome.rows == 40
    export.write_snapshot(store, DataKind.IDENTITY, store.get_project(1), step, lambda _: None)
    text = ";\n".join(wh.log) + ";\n"
    for statement in wh.log:
        if not statement.startswith("--"):
            sqlglot.parse_one(statement, read=caps.dialect)  # valid in its dialect
    path = GOLDEN / f"{dialect}.sql"
    if os.environ.get("DRIFTLINE_UPDATE_GOLDEN") or not path.exists():
        path.write_text(text)
    assert text == path.read_text()
