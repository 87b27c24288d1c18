"""The collector (Python) and imports (SQL) map enriched events to the same driftline events."""

from __future__ import annotations

import json
from pathlib import Path

from snowplow_data import tracker_events
from sp_helpers import post

from driftline.snowplow.export import enriched_lines
from driftline.snowplow.importer import import_files
from driftline.store import DuckDBStore, GroupCommitWriter

SQL = """SELECT event, time, distinct_id, device_id, user_id, insert_id, origin, properties::VARCHAR
         FROM events ORDER BY insert_id"""


def _rows(store: DuckDBStore) -> list[tuple[object, ...]]:
    return [(*r[:7], json.loads(r[7])) for r in store.query_rows(SQL)]


def test_collected_and_imported_events_are_identical(
    sp_client, store: DuckDBStore, tmp_path: Path
) -> None:
    events = tracker_events(9)
    events[3]["uid"] = "carol"
    events[4]["tnuid"] = "00000000-0000-0000-0000-000000000000"
    events[4].pop("duid")
    assert (
        post(
            sp_client,
            events,
            headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/121.0"},
        ).status_code
        == 200
    )
    collected = _rows(store)
    assert len(collected) == 9
    file = tmp_path / "export.tsv"
    file.write_text("\n".join(enriched_lines(store, 1)) + "\n")
    other = DuckDBStore(tmp_path / "other")
    other.create_project("default")
    writer = GroupCommitWriter(other)
    try:
        import_files(other, writer, str(file), 1)
        imported = _rows(other)
    finally:
        writer.close()
        other.close()
    for a, b in zip(collected, imported, strict=True):
        assert a[:7] == b[:7]
        assert a[7] == b[7], {
            k: (a[7].get(k), b[7].get(k))
            for k in set(a[7]) | set(b[7])
            if a[7].get(k) != b[7].get(k)
        }
