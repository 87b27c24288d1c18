"""An events sync from Parquet files or a DuckDB file runs as one statement in the store (the
store reads the files, or attaches the database file, and maps them itself). It must store
exactly what the streamed path stores: the same
events, watermark, boundary and run counts, over a first run, a run with new rows on the
watermark's instant and re-sent keys, and a run with a row to reject (which the streamed path
takes, to count and report it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from driftline.model import SyncMode, TableType
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.sync import catalog, engine
from driftline.sync.sources.base import ReadRequest, TableRef
from driftline.sync.sources.duckdb import create as create_source
from driftline.sync.sources.duckdb.client import DuckDBSource
from driftline.sync.spec import SyncSpec

PROPS = [
    '{"sku": "from json", "n": 1.50}',
    "[1, 2]",
    "not json",
    None,
    "{}",
    '{"a": {"b": null}, "c": "sku"}',
    '  {"big": 12345678901234567890, "u": "\\u00e9\\n"}',
    '{"channel": "web", "items": 3, "coupon": null}',
]


def _rows(lo: int, hi: int, inserted: str) -> str:
    return f"""SELECT CASE WHEN i % 5 = 0 THEN 'bad id!' || i ELSE 'o-' || i END AS id,
                      CASE WHEN i % 13 = 0 THEN NULL ELSE 'u' || (i % 50) END AS user_id,
                      'd' || (i % 30) AS device_id,
                      CASE WHEN i % 7 = 0 THEN NULL ELSE 'sku-' || (i % 9) END AS sku,
                      i / 4 AS amount,
                      list_extract($props, 1 + (i % {len(PROPS)}))::VARCHAR AS props,
                      TIMESTAMP '2026-01-01' + to_seconds(i) AS created_at,
                      TIMESTAMP '{inserted}' + to_seconds(i // 100) AS inserted_at
               FROM range({lo}, {hi}) t(i)"""


class Warehouse:
    """The same table as a DuckDB file (streamed path) and as a Parquet folder (the store's)."""

    def __init__(self, root: Path) -> None:
        self.file = root / "wh.duckdb"
        self.folder = root / "parquet"
        self.folder.mkdir()
        with duckdb.connect(str(self.file)) as conn:
            conn.execute(f"CREATE TABLE orders AS {_rows(1, 3001, '2026-01-05')}", {"props": PROPS})
        self._export()

    def run(self, *statements: str) -> None:
        with duckdb.connect(str(self.file)) as conn:
            for sql in statements:
                conn.execute(sql, {"props": PROPS} if "$props" in sql else None)
        self._export()

    def _export(self) -> None:
        with duckdb.connect(str(self.file)) as conn:
            conn.execute(f"COPY orders TO '{self.folder / 'orders.parquet'}' (FORMAT parquet)")


def _store(root: Path, url: str, mode: SyncMode) -> tuple[DuckDBStore, GroupCommitWriter]:
    store = DuckDBStore(root)
    store.create_project("p")
    writer = GroupCommitWriter(store)
    catalog.add_warehouse(writer, 1, "wh", url)
    catalog.add_sync(
        store, writer, 1,
        SyncSpec(
            name="orders", warehouse="wh", table="orders", type=TableType.EVENTS, mode=mode,
            event_name="Order", time_column="created_at", user_id_column="user_id",
            device_id_column="device_id", insert_id_column="id",
            json_properties_column="props", insert_time_column="inserted_at",
        ),
    )  # fmt: skip
    return store, writer


def _snapshot(store: DuckDBStore) -> tuple[Any, ...]:
    events = store.query_rows(
        """SELECT project_id, event, time, distinct_id, device_id, user_id, insert_id,
                  properties, origin, origin_key FROM events ORDER BY ALL"""
    )
    state = store.query_rows("SELECT state FROM syncs WHERE name = 'orders'")[0][0]
    boundary = store.query_rows("SELECT row_key FROM sync_boundary ORDER BY 1")
    identities = store.query_rows("SELECT device_id, user_id FROM identities ORDER BY 1")
    kept = {k: v for k, v in json.loads(state).items() if k != "last_loaded_at"} if state else None
    return events, kept, boundary, identities


_COUNTS = ("status", "rows_read", "inserted", "updated", "rejected")


def _both(fast: Any, slow: Any, expected_path: str) -> None:
    """Run the sync on both stores: ``fast`` as the engine chooses, ``slow`` with the store's
    own read turned off, so that it takes the streamed path."""
    outs = []
    for (store, writer), path in ((fast, expected_path), (slow, "stream")):
        progress = engine.Progress("orders")
        with pytest.MonkeyPatch.context() as patch:
            if store is slow[0]:
                patch.setattr(DuckDBSource, "store_read_sql", lambda *_: None)
            out = engine.run_sync(store, writer, 1, "orders", progress=progress)
        assert progress.path == path
        outs.append({k: out[k] for k in _COUNTS})
    assert outs[0] == outs[1]
    assert outs[0]["status"] == "succeeded"
    assert _snapshot(fast[0]) == _snapshot(slow[0])


def _url(wh: Warehouse, form: str) -> str:
    return f"duckdb:///{wh.folder if form == 'parquet' else wh.file}"


@pytest.mark.parametrize("form", ["parquet", "duckdb file"])
def test_the_store_maps_as_the_stream_does(tmp_path: Path, form: str) -> None:
    wh = Warehouse(tmp_path)
    fast = _store(tmp_path / "fast", _url(wh, form), SyncMode.APPEND)
    slow = _store(tmp_path / "slow", f"duckdb:///{wh.file}", SyncMode.APPEND)

    def both(expected_path: str) -> None:
        _both(fast, slow, expected_path)

    both("store")
    # new rows, some on the watermark's own instant; a re-sent key with new properties
    wh.run(
        f"INSERT INTO orders {_rows(3001, 3101, '2026-01-05 00:00:29')}",
        """UPDATE orders SET props = '{"resent": true}', inserted_at = TIMESTAMP '2026-01-06'
           WHERE id = 'o-17'""",
    )
    both("store")
    assert _snapshot(fast[0])[0]
    # a row the mapping rejects: the run takes the streamed path, which reports it
    wh.run(
        """INSERT INTO orders SELECT 'o-x', NULL, NULL, NULL, 1, '{}',
                  TIMESTAMP '2026-01-02', TIMESTAMP '2026-01-07'"""
    )
    both("stream")
    history = engine.history(fast[0], 1, "orders")
    assert history[-1]["rejected"] == 1
    # the attached file is released: the warehouse can write it again
    wh.run("DELETE FROM orders WHERE id = 'o-x'")
    for store, writer in (fast, slow):
        assert "_dl_source" not in {r[0] for r in store.query_rows(
            "SELECT database_name FROM duckdb_databases()")}  # fmt: skip
        writer.close()
        store.close()


@pytest.mark.parametrize("form", ["parquet", "duckdb file"])
def test_one_time_sync_in_the_store(tmp_path: Path, form: str) -> None:
    wh = Warehouse(tmp_path)
    fast = _store(tmp_path / "fast", _url(wh, form), SyncMode.ONE_TIME)
    slow = _store(tmp_path / "slow", f"duckdb:///{wh.file}", SyncMode.ONE_TIME)
    _both(fast, slow, "store")
    for store, writer in (fast, slow):
        writer.close()
        store.close()


def test_a_duckdb_table_named_with_another_catalog_is_left_to_the_source(tmp_path: Path) -> None:
    """``other.main.orders`` is not this file's table: the store must not read the file's own
    ``main.orders`` in its place; the source reads it (and answers with its own error)."""
    wh = Warehouse(tmp_path)
    source = create_source(f"duckdb:///{wh.file}")
    schema = source.describe(TableRef("orders"))
    own = source.store_read_sql(ReadRequest(TableRef("orders", "wh.main"), ("id",)), schema)
    assert own is not None and own.attach == ("_dl_source", str(wh.file.resolve()))
    assert '"_dl_source"."main"."orders"' in own.sql
    other = ReadRequest(TableRef("orders", "other.main"), ("id",))
    assert source.store_read_sql(other, schema) is None
    source.close()


def test_the_exact_count_of_rows_read_outlives_the_progress_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the store's statement runs, the engine shows an estimate of rows read from its
    progress; once the statement has counted them, the count stands, in the run's answer and
    in its history, however late the commit comes and whatever progress is polled then."""
    import time

    from driftline.store import sync_ops

    wh = Warehouse(tmp_path)
    with duckdb.connect(str(wh.file)) as conn:
        [(rows,)] = conn.execute("SELECT count(*) FROM orders").fetchall()
    store, writer = _store(tmp_path / "s", _url(wh, "parquet"), SyncMode.APPEND)
    commit = sync_ops._commit_events_run

    def late_commit(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)  # the engine polls progress meanwhile (every 0.25 s)
        return commit(*args, **kwargs)

    monkeypatch.setattr(sync_ops, "_commit_events_run", late_commit)
    monkeypatch.setattr(DuckDBStore, "write_progress", lambda self: 0.0)
    progress = engine.Progress("orders")
    out = engine.run_sync(store, writer, 1, "orders", progress=progress)
    assert progress.path == "store"
    assert out["status"] == "succeeded"
    assert out["rows_read"] == rows > 0
    assert engine.history(store, 1, "orders")[-1]["rows_read"] == rows
    writer.close()
    store.close()
