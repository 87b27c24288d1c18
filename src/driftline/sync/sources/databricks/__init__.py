"""Databricks SQL warehouses: ``databricks://token:${DATABRICKS_TOKEN}@HOST/HTTP_PATH?catalog=main&schema=default``.

Results arrive as Arrow through the connector's ``fetchmany_arrow``; SQL in sqlglot's
``databricks`` dialect, checked against golden files.
"""

from __future__ import annotations

from driftline.sync.sources.base import ALL_MODES, Capabilities

CAPABILITIES = Capabilities(
    name="databricks",
    dialect="databricks",
    modes=ALL_MODES,
    arrow_path="databricks-sql-connector fetchmany_arrow",
    batch_rows=100_000,
    checksums=True,
    url_schemes=("databricks",),
)


def configure(url: str):  # type: ignore[no-untyped-def]
    """The URL's settings, checked without connecting (no driver is imported)."""
    from driftline.sync.sources.databricks.config import DatabricksConfig

    return DatabricksConfig.from_url(url)


def create(url: str):  # type: ignore[no-untyped-def]
    from driftline.sync.sources.databricks.client import DatabricksSource

    return DatabricksSource(configure(url), CAPABILITIES)
