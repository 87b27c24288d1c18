"""The columnar read → map → insert path: the properties splice writes exactly what the JSON
merge patch writes; an events run streamed into the store that fails mid-stream (a cancel)
leaves the store and the watermark as they were; duplicate keys inside one batch still
collapse to the last row."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from driftline.errors import TerminalError
from driftline.model import SyncMode, TableType
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.sync import catalog, engine
from driftline.sync.mapping import Mapping, resolve
from driftline.sync.sources.base import Column, ColumnKind, TableRef, TableSchema, kind_of_arrow
from driftline.sync.sources.duckdb.client import DuckDBSource
from driftline.sync.spec import SyncSpec

PROPS = [
    '{"sku": "from json", "n": 1.50}',  # a key named like a column: the column wins
    "[1, 2]",  # not an object
    "not json",
    None,
    "{}",
    '{"a": {"b": null}, "c": "sku"}',  # nested null kept; "sku" as a value
    '  {"big": 12345678901234567890, "f": 1e300, "u": "\\u00e9\\n"}',
    '{"x": 0.1, "y": -0, "z": 1E2}',
    '{"channel": "web", "items": 3, "coupon": null}',
]


def _batch(rows: int) -> pa.RecordBatch:
    table = duckdb.sql(
        f"""SELECT i AS id, 'u' || (i % 7) AS user_id,
                   CASE WHEN i % 11 = 0 THEN NULL ELSE 'sku-' || i END AS sku,
                   i / 4 AS amount, i % 2 = 0 AS flag, DATE '2026-01-01' + (i % 30)::INTEGER AS d,
                   TIMESTAMP '2026-01-01 10:00:00.123' AS ts, 'é"\\x' || i AS s,
                   list_extract($props, 1 + (i % {len(PROPS)}))::VARCHAR AS props,
                   TIMESTAMP '2026-01-01' + to_seconds(i) AS created_at
            FROM range({rows}) t(i)""",
        params={"props": PROPS},
    ).to_arrow_table()
    return table.combine_chunks().to_batches()[0]


def _mapping(batch: pa.RecordBatch, **over: Any) -> Mapping:
    columns = tuple(
        Column(f.name, str(f.type), ColumnKind.JSON if f.name == "props" else kind_of_arrow(f.type))
        for f in batch.schema
    )
    spec = dict(
        name="orders", warehouse="wh", table="orders", type=TableType.EVENTS,
        mode=SyncMode.APPEND, event_name="Order", time_column="created_at",
        user_id_column="user_id", insert_id_column="id", json_properties_column="props",
        insert_time_column="created_at",
    )  # fmt: skip
    spec.update(over)
    return resolve(SyncSpec(**spec), TableSchema(TableRef("orders"), columns))


@pytest.mark.parametrize("insert_id", ["id", "s", None])
def test_splice_writes_what_the_merge_patch_writes(
    insert_id: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _batch(2000)
    mapping = _mapping(batch, insert_id_column=insert_id)
    assert mapping._splice()
    spliced = mapping.transform(batch, seq_start=0, project_id=1, now_ms=2 * 10**12)
    monkeypatch.setattr(Mapping, "_splice", lambda self: False)
    patched = mapping.transform(batch, seq_start=0, project_id=1, now_ms=2 * 10**12)
    assert spliced.column("properties").to_pylist() == patched.column("properties").to_pylist()
    assert spliced.equals(patched)
    props = [json.loads(p) for p in spliced.column("properties").to_pylist()]
    assert "sku" not in props[0] and props[0]["n"] == 1.5  # a NULL column removes the key
    assert props[9]["sku"] == "sku-9"  # the column wins over the object's key
    assert props[7]["x"] == 0.1 and props[7].get("s", 'é"\\x7') == 'é"\\x7'


def test_decimal_and_json_columns_take_the_merge_patch() -> None:
    batch = _batch(10)
    as_json = tuple(
        Column(c.name, c.type_name, ColumnKind.JSON if c.name == "sku" else c.kind)
        for c in _mapping(batch).schema.columns
    )
    spec = _mapping(batch).spec
    assert not resolve(spec, TableSchema(TableRef("orders"), as_json))._splice()
    as_decimal = tuple(
        Column(c.name, c.type_name, ColumnKind.DECIMAL if c.name == "amount" else c.kind)
        for c in as_json
    )
    assert not resolve(spec, TableSchema(TableRef("orders"), as_decimal))._splice()


@pytest.fixture
def orders_file(tmp_path: Path) -> Path:
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            """CREATE TABLE orders AS SELECT 'o-' || i AS id, 'u' || (i % 100) AS user_id,
                      json_object('n', i)::VARCHAR AS props,
                      TIMESTAMP '2026-01-01' + to_seconds(i) AS created_at,
                      TIMESTAMP '2026-01-05' + to_seconds(i // 1000) AS inserted_at
               FROM range(1, 350001) t(i)"""
        )
    return path


def _add(store: DuckDBStore, writer: GroupCommitWriter, path: Path) -> None:
    catalog.add_warehouse(writer, 1, "wh", f"duckdb:///{path}")
    catalog.add_sync(
        store, writer, 1,
        SyncSpec(
            name="orders", warehouse="wh", table="orders", type=TableType.EVENTS,
            mode=SyncMode.APPEND, event_name="Order", time_column="created_at",
            user_id_column="user_id", insert_id_column="id", json_properties_column="props",
            insert_time_column="inserted_at",
        ),
    )  # fmt: skip


def _state(store: DuckDBStore) -> tuple[int, Any]:
    state = store.query_rows("SELECT state FROM syncs WHERE name = 'orders'")[0][0]
    return store.count_events(1), json.loads(state).get("watermark") if state else None


def test_failed_stream_leaves_store_and_watermark(
    orders_file: Path, store: DuckDBStore, writer: GroupCommitWriter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # the streamed path (the store would read a DuckDB file itself: see the next test)
    monkeypatch.setattr(DuckDBSource, "store_read_sql", lambda *_: None)
    _add(store, writer, orders_file)
    cancel = threading.Event()

    def on_progress(progress: engine.Progress) -> None:
        if progress.counts.rows_read > 0:
            cancel.set()  # the store's INSERT is pulling batches at this point

    with pytest.raises(TerminalError, match="cancelled"):
        engine.run_sync(store, writer, 1, "orders", on_progress=on_progress, cancel=cancel)
    assert _state(store) == (0, None)
    history = engine.history(store, 1, "orders")
    assert [h["status"] for h in history] == ["failed"]
    assert history[0]["error"] == "cancelled"
    # the writer is free again and the rerun loads everything, once
    rerun = engine.run_sync(store, writer, 1, "orders")
    assert (rerun["status"], rerun["inserted"]) == ("succeeded", 350_000)
    assert _state(store) == (350_000, "2026-01-05T00:05:50")


@pytest.mark.slow
def test_cancel_stops_a_run_the_store_reads(
    tmp_path: Path, store: DuckDBStore, writer: GroupCommitWriter
) -> None:
    """A run the store reads itself is one statement: a cancel that comes while it runs
    stops the run (the statement is interrupted), and nothing of the run is stored. The
    cancel is set from the statement's own progress, so it comes while the statement runs."""
    path = tmp_path / "big.duckdb"
    rows = 4_000_000
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            f"""CREATE TABLE orders AS SELECT 'o-' || i AS id, 'u' || (i % 100) AS user_id,
                       json_object('n', i)::VARCHAR AS props,
                       TIMESTAMP '2026-01-01' + to_seconds(i) AS created_at,
                       TIMESTAMP '2026-01-05' + to_seconds(i // 1000) AS inserted_at
                FROM range({rows}) t(i)"""
        )
    _add(store, writer, path)
    cancel = threading.Event()

    def on_progress(progress: engine.Progress) -> None:
        if progress.counts.rows_read > 0:
            cancel.set()  # set from the statement's own progress: it is running

    with pytest.raises(TerminalError, match="cancelled"):
        engine.run_sync(store, writer, 1, "orders", on_progress=on_progress, cancel=cancel)
    assert _state(store) == (0, None)
    assert [h["error"] for h in engine.history(store, 1, "orders")] == ["cancelled"]
    rerun = engine.run_sync(store, writer, 1, "orders")
    assert (rerun["status"], rerun["inserted"], rerun["rows_read"]) == ("succeeded", rows, rows)
    assert _state(store)[0] == rows


def test_duplicate_keys_in_one_batch_collapse_to_the_last(
    tmp_path: Path, store: DuckDBStore, writer: GroupCommitWriter
) -> None:
    path = tmp_path / "dups.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            """CREATE TABLE orders AS SELECT 'o-' || (i % 3) AS id, 'u1' AS user_id,
                      json_object('n', i)::VARCHAR AS props,
                      TIMESTAMP '2026-01-01' AS created_at,
                      TIMESTAMP '2026-01-05' + to_seconds(i) AS inserted_at
               FROM range(9) t(i) ORDER BY i"""
        )
    _add(store, writer, path)
    out = engine.run_sync(store, writer, 1, "orders")
    assert out["rows_read"] == 9 and out["inserted"] == 3
    got = store.query_rows("SELECT insert_id, properties FROM events ORDER BY insert_id")
    assert [(r[0], json.loads(r[1])["n"]) for r in got] == [("o-0", 6), ("o-1", 7), ("o-2", 8)]
    assert dt.datetime.fromisoformat(_state(store)[1]) == dt.datetime(2026, 1, 5, 0, 0, 8)
