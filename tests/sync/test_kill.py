"""A sync killed mid-run (SIGKILL) leaves the store and its watermark as they were; the next
run picks up cleanly and ends with exact counts: a `driftline sync run` killed, and a
`driftline serve` killed while it runs a sync for the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sync_cli import DRIFTLINE, run_cli

from driftline.store import DuckDBStore

ROWS = 400_000
MORE = 1_000_000  # large enough that a run is still reading when it is killed


@pytest.fixture
def big_orders(postgres: Any) -> Any:
    postgres.execute("DROP TABLE IF EXISTS kill_orders")
    postgres.execute(
        """CREATE TABLE kill_orders (id bigint PRIMARY KEY, user_id text, props jsonb,
           created_at timestamp, inserted_at timestamp)"""
    )
    postgres.execute(
        f"""INSERT INTO kill_orders SELECT i, 'u' || (i % 1000), jsonb_build_object('n', i),
            timestamp '2026-01-01' + i * interval '1 second', timestamp '2026-01-05' + (i / 1000) * interval '1 second'
            FROM generate_series(1, {ROWS}) i"""
    )
    return postgres


def _add_more(postgres: Any) -> None:
    postgres.execute(
        f"""INSERT INTO kill_orders SELECT i, 'u' || (i % 1000), jsonb_build_object('n', i),
            timestamp '2026-01-01' + i * interval '1 second', timestamp '2026-01-10' + (i / 1000) * interval '1 second'
            FROM generate_series({ROWS + 1}, {ROWS + MORE}) i"""
    )


def _setup(data: Path, url: str) -> None:
    run_cli("init", data_dir=data)
    run_cli("warehouse", "add", "pg", url, data_dir=data)
    run_cli(
        "sync", "add", "orders", "--warehouse", "pg", "--table", "public.kill_orders",
        "--type", "events", "--mode", "append", "--event-name", "Order", "--time-column",
        "created_at", "--user-id-column", "user_id", "--insert-id-column", "id",
        "--json-properties-column", "props", "--insert-time-column", "inserted_at", data_dir=data,
    )  # fmt: skip


def _kill_when_reading(args: list[str], data: Path) -> None:
    """Start `driftline ARGS`, SIGKILL it once it reports rows read."""
    proc = subprocess.Popen(
        [*DRIFTLINE, *args, "--data-dir", str(data)], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if "rows read" in line and not line.strip().endswith(" 0 rows read"):
            break
        assert time.monotonic() < deadline, "the run never reported progress"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


def _state(data: Path) -> tuple[int, str | None]:
    with DuckDBStore(data) as store:
        events = store.count_events(1)
        state = store.query_rows("SELECT state FROM syncs WHERE name = 'orders'")[0][0]
    return events, json.loads(state).get("watermark") if state else None


@pytest.mark.slow
@pytest.mark.e2e
def test_kill_cli_run_then_rerun(big_orders: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _setup(data, big_orders.url)
    first = json.loads(run_cli("sync", "run", "orders", "--format", "json", data_dir=data).stdout)[
        0
    ]
    assert first["inserted"] == ROWS
    before = _state(data)
    _add_more(big_orders)

    _kill_when_reading(["sync", "run", "orders"], data)
    assert _state(data) == before  # store and watermark unchanged

    rerun = json.loads(run_cli("sync", "run", "orders", "--format", "json", data_dir=data).stdout)[
        0
    ]
    assert rerun["status"] == "succeeded"
    assert rerun["inserted"] == MORE
    events, watermark = _state(data)
    assert events == ROWS + MORE and watermark and watermark > before[1]
    history = json.loads(
        run_cli("sync", "history", "orders", "--format", "json", data_dir=data).stdout
    )
    assert [h["status"] for h in history] == ["succeeded", "failed", "succeeded"]
    assert "interrupted" in history[1]["error"]


@pytest.mark.slow
@pytest.mark.e2e
def test_kill_server_during_run_then_rerun(big_orders: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _setup(data, big_orders.url)
    _add_more(big_orders)  # large enough that the run is still going when the server dies
    before = _state(data)
    assert before == (0, None)
    server = subprocess.Popen(
        [*DRIFTLINE, "serve", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (data / "server.json").exists():
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.1)
        # the CLI goes through the server; kill the server (which runs the sync) mid-run
        client = subprocess.Popen(
            [*DRIFTLINE, "sync", "run", "orders", "--data-dir", str(data)],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert client.stderr is not None
        for line in client.stderr:
            if "rows read" in line and not line.strip().endswith(" 0 rows read"):
                break
        os.kill(server.pid, signal.SIGKILL)
        client.wait(60)
        client.stderr.close()
        assert client.returncode != 0
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    (data / "server.json").unlink(missing_ok=True)
    assert _state(data) == before
    rerun = json.loads(run_cli("sync", "run", "orders", "--format", "json", data_dir=data).stdout)[
        0
    ]
    assert rerun["inserted"] == ROWS + MORE
    assert _state(data)[0] == ROWS + MORE
    assert not any((data / "sync-staging").glob("*")), (
        "staged files of the killed run were left behind"
    )


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("form", ["parquet", "duckdb file"])
def test_kill_run_the_store_reads_then_rerun(tmp_path: Path, form: str) -> None:
    """The same for a run the store reads and maps itself (one statement): a Parquet folder,
    or a DuckDB file the store attaches."""
    import duckdb

    folder = tmp_path / "files"
    folder.mkdir()
    rows = 3_000_000
    duckdb.sql(
        f"""COPY (SELECT i AS id, 'u' || (i % 1000) AS user_id, json_object('n', i) AS props,
                  TIMESTAMP '2026-01-01' + to_seconds(i) AS created_at
                  FROM range({rows}) t(i)) TO '{folder / "orders.parquet"}' (FORMAT parquet)"""
    )
    url = f"duckdb:///{folder}"
    if form == "duckdb file":
        url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
        with duckdb.connect(str(tmp_path / "wh.duckdb")) as conn:
            conn.execute(f"CREATE TABLE orders AS FROM '{folder / 'orders.parquet'}'")
    data = tmp_path / "data"
    run_cli("init", data_dir=data)
    run_cli("warehouse", "add", "files", url, data_dir=data)
    run_cli(
        "sync", "add", "orders", "--warehouse", "files", "--table", "orders", "--type", "events",
        "--mode", "append", "--event-name", "Order", "--time-column", "created_at",
        "--user-id-column", "user_id", "--insert-id-column", "id",
        "--json-properties-column", "props", "--insert-time-column", "created_at", data_dir=data,
    )  # fmt: skip
    _kill_when_reading(["sync", "run", "orders"], data)
    assert _state(data) == (0, None)
    rerun = json.loads(run_cli("sync", "run", "orders", "--format", "json", data_dir=data).stdout)[
        0
    ]
    assert (rerun["status"], rerun["inserted"], rerun["rows_read"]) == ("succeeded", rows, rows)
    assert _state(data) == (rows, "2026-02-04T17:19:59")
