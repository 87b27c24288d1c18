"""Stored enriched events back out as the 131-field TSV (or the Analytics SDK JSON shape).

The TSV is rendered in SQL from ``snowplow_events``: timestamps ``yyyy-MM-dd HH:mm:ss.SSS``,
booleans ``1``/``0``, JSON columns as stored, empty for NULL — the format Enrich writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from driftline.snowplow.fields import FIELD_KINDS
from driftline.store import DuckDBStore


def _render(name: str, kind: str) -> str:
    if kind == "tstamp":
        return f"coalesce(strftime({name}, '%Y-%m-%d %H:%M:%S.%g'), '')"
    if kind == "bool":
        return f"CASE WHEN {name} THEN '1' WHEN NOT {name} THEN '0' ELSE '' END"
    return f"coalesce({name}::VARCHAR, '')"


TSV_SQL = "concat_ws(chr(9), " + ", ".join(_render(n, k) for n, k in FIELD_KINDS.items()) + ")"


def enriched_lines(
    store: DuckDBStore,
    project_id: int,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    batch_rows: int = 50_000,
) -> Iterator[str]:
    where, params = "project_id = ?", [project_id]
    params_list: list[Any] = list(params)
    if start is not None:
        where += " AND collector_tstamp >= ?"
        params_list.append(start)
    if end is not None:
        where += " AND collector_tstamp < ?"
        params_list.append(end)
    sql = f"SELECT {TSV_SQL} AS line FROM snowplow_events WHERE {where} ORDER BY collector_tstamp, event_id"
    for batch in store.stream(sql, params_list, batch_rows):
        yield from batch.column(0).to_pylist()
