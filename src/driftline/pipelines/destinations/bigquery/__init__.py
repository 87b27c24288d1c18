"""BigQuery: ``bigquery://project/dataset?location=US`` (credentials: the usual
``GOOGLE_APPLICATION_CREDENTIALS``).

Rows are loaded into a stage table (a load job from Parquet), then moved into
``mp_master_event`` (partitioned by ``event_date``, ``properties`` as JSON) by one
multi-statement transaction together with the export log row. People and identity
mappings: a table per snapshot behind ``mp_people_data_view`` /
``mp_identity_mappings_data_view``.
"""

from __future__ import annotations

from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.bigquery.config import parse_url

CAPABILITIES = Capabilities(
    name="bigquery",
    kind="warehouse",
    schemes=("bigquery",),
    dialect="bigquery",
    json_type="JSON",
    json_parse="PARSE_JSON",
    partitioning="PARTITION BY {event_date}",
    staged=True,
)


def open(url: str):  # type: ignore[no-untyped-def]
    from driftline.pipelines.destinations.bigquery.client import BigQueryWarehouse

    return BigQueryWarehouse(parse_url(url), CAPABILITIES)
