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


def configure(url: str):  # type: ignore[no-untyped-def]
    """The URL's settings, checked without connecting (no driver is imported)."""
    from driftline.sync.sources.sqlite.config import FileConfig

    return FileConfig.from_url(url, "duckdb")


def create(url: str):  # type: ignore[no-untyped-def]
    from driftline.sync.sources.duckdb.client import DuckDBSource

    return DuckDBSource(configure(url), CAPABILITIES)
