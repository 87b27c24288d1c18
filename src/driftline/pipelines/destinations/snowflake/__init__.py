"""Snowflake: ``snowflake://user:${SNOWFLAKE_PASSWORD}@account/database/schema?warehouse=WH&role=R``.

Rows go to a stage table (``write_pandas``: PUT + COPY) and move into ``MP_MASTER_EVENT``
(``VARIANT`` properties, clustered by ``EVENT_DATE``) in one short transaction with the
export log row. Identifiers are upper case, so ``select count(*) from mp_master_event``
works unquoted. ``host``, ``port`` and ``protocol`` query parameters reach other endpoints
(fakesnow in tests).
"""

from __future__ import annotations

from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.snowflake.config import parse_url

CAPABILITIES = Capabilities(
    name="snowflake",
    kind="warehouse",
    schemes=("snowflake",),
    dialect="snowflake",
    json_type="VARIANT",
    json_parse="PARSE_JSON",
    partitioning="CLUSTER BY ({event_date})",
    staged=True,
    uppercase=True,
    spell_dollar=True,
)


def open(url: str):  # type: ignore[no-untyped-def]
    from driftline.pipelines.destinations.snowflake.client import SnowflakeWarehouse

    return SnowflakeWarehouse(parse_url(url), CAPABILITIES)
