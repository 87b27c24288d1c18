"""Amazon Redshift: ``redshift://user:${PASSWORD}@cluster.region.redshift.amazonaws.com:5439/dev``.

Redshift speaks PostgreSQL's wire protocol but has no ``COPY ... TO STDOUT``: rows are
fetched through a server-side cursor a page at a time and built into Arrow column by column.
SQL is rendered in sqlglot's ``redshift`` dialect.
"""

from __future__ import annotations

from driftline.sync.sources.base import ALL_MODES, Capabilities

CAPABILITIES = Capabilities(
    name="redshift",
    dialect="redshift",
    modes=ALL_MODES,
    checksums=True,
    arrow_path="server-side cursor pages → Arrow columns",
    batch_rows=50_000,
    url_schemes=("redshift",),
)


def configure(url: str):  # type: ignore[no-untyped-def]
    """The URL's settings, checked without connecting (no driver is imported)."""
    from driftline.sync.sources.redshift.config import redshift_config

    return redshift_config(url)


def create(url: str):  # type: ignore[no-untyped-def]
    from driftline.sync.sources.redshift.client import RedshiftSource

    return RedshiftSource(configure(url), CAPABILITIES)
