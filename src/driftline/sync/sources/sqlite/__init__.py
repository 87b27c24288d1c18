"""SQLite files: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``.

Read with Python's built-in ``sqlite3`` (opened read-only), a page at a time into Arrow.
"""

from __future__ import annotations

from driftline.sync.sources.base import ALL_MODES, Capabilities

CAPABILITIES = Capabilities(
    name="sqlite",
    dialect="sqlite",
    modes=ALL_MODES,
    checksums=True,
    arrow_path="sqlite3 pages → Arrow columns",
    batch_rows=50_000,
    url_schemes=("sqlite",),
)


def configure(url: str):  # type: ignore[no-untyped-def]
    """The URL's settings, checked without connecting (no driver is imported)."""
    from driftline.sync.sources.sqlite.config import FileConfig

    return FileConfig.from_url(url, "sqlite")


def create(url: str):  # type: ignore[no-untyped-def]
    from driftline.sync.sources.sqlite.client import SQLiteSource

    return SQLiteSource(configure(url), CAPABILITIES)
