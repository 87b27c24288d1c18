"""Scheduled syncs run inside `driftline serve`: due ones start, one run per sync at a time."""

from __future__ import annotations

import datetime as dt
import types
from typing import Any

from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.sync import catalog
from driftline.sync.runs import ActiveRuns
from driftline.sync.scheduler import due_syncs
from driftline.sync.spec import SyncSpec


def test_due_syncs_and_the_scheduler(
    store: DuckDBStore, writer: GroupCommitWriter, duckdb_wh: Any
) -> None:
    from driftline.server.services.sync_scheduler import SyncScheduler

    duckdb_wh.create("skus", [("sku", "text"), ("title", "text")], [("s1", "Hat")])
    catalog.add_warehouse(writer, 1, "files", duckdb_wh.url)
    for name, every, mode in (
        ("hourly", "1h", "full"),
        ("manual", None, "full"),
        ("once", None, "one-time"),
    ):
        catalog.add_sync(store, writer, 1, SyncSpec(name=name, warehouse="files", table="skus",
                         type="lookup-table", mode=mode, id_column="sku", every=every))  # fmt: skip
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert [d.name for d in due_syncs(store, now)] == ["hourly"]

    scheduler = SyncScheduler(types.SimpleNamespace(store=store, writer=writer))
    assert scheduler.run_due() == ["hourly"]
    runs = ActiveRuns.for_store(store, writer)
    assert runs.wait(1, "hourly", 60)["status"] == "succeeded"
    assert due_syncs(store, dt.datetime.now(dt.UTC).replace(tzinfo=None)) == []
    assert due_syncs(store, now + dt.timedelta(hours=2))[0].name == "hourly"
    assert store.query_rows("SELECT count(*) FROM lookup_rows") == [(1,)]
