"""Google BigQuery: ``bigquery://PROJECT/DATASET[?location=EU&credentials_path=/path/key.json]``.

Credentials come from ``credentials_path`` or Google's usual environment
(``GOOGLE_APPLICATION_CREDENTIALS``). Results are read as Arrow (``to_arrow_iterable``,
through the Storage Read API when its package is installed). SQL in sqlglot's ``bigquery``
dialect, checked against golden files.
"""

from __future__ import annotations

from driftline.sync.sources.base import ALL_MODES, Capabilities

CAPABILITIES = Capabilities(
    name="bigquery",
    dialect="bigquery",
    modes=ALL_MODES,
    arrow_path="google-cloud-bigquery to_arrow_iterable (Storage Read API when installed)",
    batch_rows=100_000,
    checksums=True,
    url_schemes=("bigquery",),
)


def configure(url: str):  # type: ignore[no-untyped-def]
    """The URL's settings, checked without connecting (no driver is imported)."""
    from driftline.sync.sources.bigquery.config import BigQueryConfig

    return BigQueryConfig.from_url(url)


def create(url: str):  # type: ignore[no-untyped-def]
    from driftline.sync.sources.bigquery.client import BigQuerySource

    return BigQuerySource(configure(url), CAPABILITIES)
