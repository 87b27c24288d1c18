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


def create(url: str):  # type: ignore[no-untyped-def]
    from driftline.sync.sources.databricks.client import DatabricksSource
    from driftline.sync.sources.databricks.config import DatabricksConfig

    return DatabricksSource(DatabricksConfig.from_url(url), CAPABILITIES)
