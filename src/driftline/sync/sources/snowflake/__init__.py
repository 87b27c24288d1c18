"""Snowflake: ``snowflake://user:${SNOWFLAKE_PASSWORD}@account/DATABASE/SCHEMA?warehouse=WH&role=R``.

Results arrive as Arrow from the connector's own fetch (``fetch_arrow_batches``); SQL in
sqlglot's ``snowflake`` dialect. Snowflake can compute row checksums in the warehouse
(``MD5``/``SHA2`` over the row), which Mirror builds on.
"""

from __future__ import annotations

from driftline.sync.sources.base import ALL_MODES, Capabilities

CAPABILITIES = Capabilities(
    name="snowflake",
    dialect="snowflake",
    modes=ALL_MODES,
    arrow_path="snowflake-connector-python fetch_arrow_batches",
    batch_rows=100_000,
    checksums=True,
    url_schemes=("snowflake",),
)


def configure(url: str):  # type: ignore[no-untyped-def]
    """The URL's settings, checked without connecting (no driver is imported)."""
    from driftline.sync.sources.snowflake.config import SnowflakeConfig

    return SnowflakeConfig.from_url(url)


def create(url: str):  # type: ignore[no-untyped-def]
    from driftline.sync.sources.snowflake.client import SnowflakeSource

    return SnowflakeSource(configure(url), CAPABILITIES)
