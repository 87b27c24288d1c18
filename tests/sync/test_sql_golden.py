"""The SQL each source sends, rendered by sqlglot in its dialect, against golden files.

BigQuery and Databricks cannot run here: their SQL is checked this way (and their client
paths in ``test_vendor_clients``). Regenerate after an intended change with
``DRIFTLINE_UPDATE_GOLDEN=1 pytest tests/sync/test_sql_golden.py`` and review the diff.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from driftline.sync.sources import open_source
from driftline.sync.sources.base import Column, ColumnKind, ReadRequest, TableRef, TableSchema

GOLDEN = Path(__file__).parent / "golden"
URLS = {
    "postgres": "postgresql://u@h/db",
    "redshift": "redshift://u@cluster/dev",
    "mysql": "mysql://u@h/shop",
    "sqlite": "sqlite:///shop.db",
    "duckdb": "duckdb:///shop.duckdb",
    "snowflake": "snowflake://u@acct/ANALYTICS/PUBLIC?warehouse=WH",
    "bigquery": "bigquery://my-project/analytics",
    "databricks": "databricks://token:x@adb-1.azuredatabricks.net/sql/1.0/warehouses/abc?catalog=main&schema=sales",
}
# the watermark column's type as each warehouse names it
TYPES = {
    "postgres": "timestamp with time zone", "redshift": "timestamp without time zone",
    "mysql": "datetime(6)", "sqlite": "TIMESTAMP", "duckdb": "TIMESTAMP WITH TIME ZONE",
    "snowflake": "TIMESTAMP_NTZ", "bigquery": "TIMESTAMP", "databricks": "timestamp",
}  # fmt: skip
# a table whose names need quoting: a space, a quote, a reserved word, mixed case
TABLE = TableSchema(
    TableRef('Order "Items"', "sales"),
    (
        Column("id", "bigint", ColumnKind.INTEGER),
        Column("User Id", "varchar", ColumnKind.STRING),
        Column("select", "json", ColumnKind.JSON),
        Column("amount", "numeric", ColumnKind.DECIMAL),
        Column("created_at", "timestamp with time zone", ColumnKind.TIMESTAMP),
    ),
)


def render(name: str) -> str:
    source = open_source(URLS[name])
    request = ReadRequest(
        TABLE.table,
        tuple(TABLE.names),
        since_column="created_at",
        since=dt.datetime(2026, 1, 2, 3, 4, 5, 6),
        since_type=TYPES[name],
    )
    parts = [
        f"-- {name}: read, Append from the watermark",
        source.select_sql(request, TABLE) + ";",
        "-- row count",
        source.count_sql(request) + ";",
        "-- columns of a table",
        source.columns_sql(TABLE.table) + ";",
        "-- Mirror: row checksums computed in the warehouse",
        source.checksum_sql(TABLE, ["id"]) + ";",
    ]
    return "\n".join(parts) + "\n"


@pytest.mark.parametrize("name", sorted(URLS))
def test_sql_matches_golden_file(name: str) -> None:
    path = GOLDEN / f"{name}.sql"
    got = render(name)
    if os.environ.get("DRIFTLINE_UPDATE_GOLDEN") or not path.exists():
        path.write_text(got)
    assert got == path.read_text()


@pytest.mark.parametrize("name", sorted(URLS))
def test_user_identifiers_are_quoted(name: str) -> None:
    sql = render(name)
    # the table name with a quote in it never appears unquoted
    assert 'Order "Items" ' not in sql.replace('"Order ""Items"""', "")
    assert "User Id" in sql
