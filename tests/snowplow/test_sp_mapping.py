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


def test_collector_commits_remember_the_devices_they_linked(tmp_path: Path) -> None:
    """A collector commit whose events link devices to users leaves those devices known,
    so the next commit from them skips the identities statement; the identity stays the
    first user's."""
    from snowplow_data import post_body

    from driftline.snowplow import config as sp_config
    from driftline.snowplow.collector import Collector, Request
    from driftline.snowplow.events import EVENTS_SQL
    from driftline.store.snowplow import AppendEnriched

    store = DuckDBStore(tmp_path / "data")
    project = store.create_project("default")
    collector = Collector(sp_config.load(None), lambda: [project])
    path = "/com.snowplowanalytics.snowplow/tp2"
    events = [e for e in tracker_events(30) if "uid" in e][:2]  # each links d-<user> to <user>

    def commit(batch: list[dict[str, str]]) -> None:
        request = Request("POST", path, "", [("content-type", "application/json")],
                          post_body(batch), "10.0.0.1")  # fmt: skip
        output = collector.handle(request, path, project).output
        assert output is not None
        store.apply([AppendEnriched(None, EVENTS_SQL, prepared=output.items,
                                    build=output.op().build)])  # fmt: skip

    commit(events[:1])
    device = events[0]["duid"]
    assert store._linked_devices.covers(project.id, [device])
    assert not store._linked_devices.covers(project.id, [events[1]["duid"]])
    commit([dict(events[1], duid=device, uid="someone-else")])
    rows = store.query_rows("SELECT device_id, user_id FROM identities")
    assert rows == [(device, events[0]["uid"])]
    store.close()
