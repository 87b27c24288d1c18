"""PostgreSQL: ``postgresql://user:${PASSWORD}@host:5432/database[?sslmode=require&schema=public]``.

Rows travel as ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` parsed by pyarrow's
multi-threaded CSV reader into typed record batches; the types come from the catalog.
"""

from __future__ import annotations

from driftline.sync.sources.base import ALL_MODES, Capabilities
from driftline.sync.sources.postgres.config import PostgresConfig

CAPABILITIES = Capabilities(
    name="postgres",
    dialect="postgres",
    modes=ALL_MODES,
    checksums=True,
    arrow_path="COPY ... TO STDOUT (csv) parsed by pyarrow.csv",
    batch_rows=131_072,
    url_schemes=("postgresql", "postgres"),
)


def configure(url: str):  # type: ignore[no-untyped-def]
    """The URL's settings, checked without connecting (no driver is imported)."""
    return PostgresConfig.from_url(url)


def create(url: str):  # type: ignore[no-untyped-def]
    from driftline.sync.sources.postgres.client import PostgresSource

    return PostgresSource(configure(url), CAPABILITIES)
