"""DuckDB file as a warehouse: ``duckdb:///path/to/analytics.duckdb?schema=main``."""

from __future__ import annotations

from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.duckdb.config import parse_url

CAPABILITIES = Capabilities(name="duckdb", kind="warehouse", schemes=("duckdb",), dialect="duckdb")


def open(url: str):  # type: ignore[no-untyped-def]
    from driftline.pipelines.destinations.duckdb.client import DuckDBWarehouse

    return DuckDBWarehouse(parse_url(url), CAPABILITIES)
