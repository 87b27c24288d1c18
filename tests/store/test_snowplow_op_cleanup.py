"""Snowplow write ops leave nothing behind on the writer's connection after their commit:
no registered Arrow views, no temporary tables (a leak would grow with every commit)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from driftline.snowplow.collector import build_tables
from driftline.snowplow.events import EVENTS_SQL
from driftline.snowplow.rows import event_row
from driftline.store import DuckDBStore
from driftline.store.snowplow import LINES_SCHEMA, AppendEnriched


def _leftovers(store: DuckDBStore) -> list[str]:
    conn = store._conn  # the writer's own connection: temp tables and views live there
    rows = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal AND temporary"
    ).fetchall()
    return sorted(r[0] for r in rows)


def _fields(event_id: str) -> dict[str, str | None]:
    return {
        "app_id": "web",
        "platform": "web",
        "event": "page_view",
        "event_id": event_id,
        "collector_tstamp": "2024-01-02 03:04:05.000",
        "derived_tstamp": "2024-01-02 03:04:05.000",
        "v_tracker": "js-3",
    }


def test_collector_and_import_ops_leave_no_temp_tables(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path) as store:
        pid = store.create_project("p").id
        ms = int(dt.datetime(2024, 1, 2, 3, 4, 5).timestamp() * 1000)
        items = []
        for i in range(3):
            f = _fields(f"00000000-0000-4000-8000-00000000000{i}")
            items.append((pid, f, event_row(pid, f, None, [], [], ms)))
        collector = AppendEnriched(None, EVENTS_SQL, prepared=items, build=build_tables)
        store.apply([collector])
        assert _leftovers(store) == []
        # an import whose values do not all cast goes through the checked path (a temp table)
        fields = ["x"] * 131
        fields[3] = "yesterday"  # collector_tstamp
        lines = pa.Table.from_arrays(
            [pa.array([pid], pa.int32()), pa.array(["\t".join(fields)])], schema=LINES_SCHEMA
        )
        result = store.apply([AppendEnriched(lines, EVENTS_SQL)])[0]
        assert result.extra["bad_rows"] == 1
        assert _leftovers(store) == []
        count = store.query_rows("SELECT count(*) FROM snowplow_events")[0][0]
        assert count == 3
