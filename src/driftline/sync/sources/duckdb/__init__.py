"""DuckDB database files and folders of Parquet files: ``duckdb:///path/warehouse.duckdb``
or ``duckdb:///path/to/folder`` (each ``*.parquet`` file, or folder of them, is a table
named after it).

DuckDB hands its results to driftline as Arrow record batches directly.
"""

from __future__ import annotations

from driftline.sync.sources.base import ALL_MODES, Capabilities

CAPABILITIES = Capabilities(
    name="duckdb",
    dialect="duckdb",
    modes=ALL_MODES,
    checksums=True,
    arrow_path="DuckDB's own Arrow record batch reader",
    batch_rows=122_880,
    url_schemes=("duckdb", "parquet"),
)


def create(url: str):  # type: ignore[no-untyped-def]
    from driftline.sync.sources.duckdb.client import DuckDBSource
    from driftline.sync.sources.sqlite.config import FileConfig

    return DuckDBSource(FileConfig.from_url(url, "duckdb"), CAPABILITIES)
