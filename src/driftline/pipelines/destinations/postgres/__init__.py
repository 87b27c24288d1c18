"""PostgreSQL warehouse: ``postgresql://user:password@host:port/db?schema=analytics``.

Rows arrive by binary ``COPY`` (ADBC, straight from Arrow) inside the step's
transaction; ``mp_master_event`` has a BRIN index on ``event_date``.
"""

from __future__ import annotations

from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.postgres.config import parse_url

CAPABILITIES = Capabilities(
    name="postgres",
    kind="warehouse",
    schemes=("postgresql", "postgres"),
    dialect="postgres",
    json_type="JSONB",
    extra_ddl=(
        "CREATE INDEX IF NOT EXISTS mp_master_event_event_date ON {table} USING brin ({event_date})",
    ),
)


def open(url: str):  # type: ignore[no-untyped-def]
    from driftline.pipelines.destinations.postgres.client import PostgresWarehouse

    return PostgresWarehouse(parse_url(url), CAPABILITIES)
