"""Redshift: ``redshift://user:${REDSHIFT_PASSWORD}@cluster.region.redshift.amazonaws.com:5439/db?schema=analytics``.

``mp_master_event`` with ``SUPER`` properties, sorted by ``event_date``; one transaction per
step with the export log row. Rows are sent as multi-row ``INSERT`` batches (Redshift has
no ``COPY FROM STDIN``); for large exports, an S3 bucket pipeline plus Redshift Spectrum or
``COPY`` from that bucket is the faster path.
"""

from __future__ import annotations

from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.postgres.config import parse_url

CAPABILITIES = Capabilities(
    name="redshift",
    kind="warehouse",
    schemes=("redshift",),
    dialect="redshift",
    json_type="SUPER",
    json_parse="JSON_PARSE",
    partitioning="SORTKEY ({event_date})",
    add_column_if_not_exists=False,
    staged=True,
)


def open(url: str):  # type: ignore[no-untyped-def]
    from driftline.pipelines.destinations.redshift.client import RedshiftWarehouse

    return RedshiftWarehouse(parse_url(url, default_port=5439), CAPABILITIES)
