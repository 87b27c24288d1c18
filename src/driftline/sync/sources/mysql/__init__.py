"""MySQL and MariaDB: ``mysql://user:${PASSWORD}@host:3306/database``.

Rows are read through an unbuffered (server-side) cursor a page at a time and built into
Arrow column by column; SQL in sqlglot's ``mysql`` dialect.
"""

from __future__ import annotations

from driftline.sync.sources.base import ALL_MODES, Capabilities

CAPABILITIES = Capabilities(
    name="mysql",
    dialect="mysql",
    modes=ALL_MODES,
    checksums=True,
    arrow_path="unbuffered cursor pages → Arrow columns",
    batch_rows=50_000,
    url_schemes=("mysql", "mariadb"),
)


def configure(url: str):  # type: ignore[no-untyped-def]
    """The URL's settings, checked without connecting (no driver is imported)."""
    from driftline.sync.sources.mysql.config import MySQLConfig

    return MySQLConfig.from_url(url)


def create(url: str):  # type: ignore[no-untyped-def]
    from driftline.sync.sources.mysql.client import MySQLSource

    return MySQLSource(configure(url), CAPABILITIES)
