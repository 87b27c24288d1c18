"""Benchmark: Append sync of a Parquet folder, or of a DuckDB database file, (read by the
DuckDB source) into the store, against DuckDB reading the same data into Arrow in the same run.

    python benchmarks/sync_parquet.py [--rows 2000000] [--repeat 3] [--source parquet|duckdb]

The data (6 columns incl. a JSON text column) is written once to benchmarks/data/: a folder
holding ``orders.parquet``, and ``orders.duckdb`` with the same rows in table ``orders``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).parent / "data" / "sync_parquet"


def ensure_data(rows: int) -> Path:
    folder = HERE / str(rows)
    target = folder / "orders.parquet"
    if target.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    duckdb.sql(
        f"""COPY (SELECT i AS id, 'user-' || (i % 100000) AS user_id, 'sku-' || (i % 500) AS sku,
                   (i % 10000) / 100.0 AS amount,
                   json_object('channel', ['web','ios','android'][1 + i % 3], 'items', 1 + i % 5) AS props,
                   TIMESTAMP '2026-01-01' + to_seconds(i) AS created_at
            FROM range({rows}) t(i)) TO '{target}' (FORMAT parquet)"""
    )
    return folder


def ensure_duckdb_file(rows: int) -> Path:
    """The same rows in a DuckDB database file, table ``orders``."""
    folder = ensure_data(rows)
    target = HERE / f"{rows}.duckdb"
    if not target.exists():
        with duckdb.connect(str(target)) as conn:
            conn.execute(
                f"CREATE TABLE orders AS SELECT * FROM read_parquet('{folder}/orders.parquet')"
            )
    return target


def raw_read(source: Path) -> float:
    started = time.perf_counter()
    rows = 0
    if source.is_dir():
        conn = duckdb.connect()
        relation = conn.sql(f"SELECT * FROM read_parquet('{source}/orders.parquet')")
    else:
        conn = duckdb.connect(str(source), read_only=True)
        relation = conn.sql("SELECT * FROM orders")
    for batch in relation.to_arrow_reader(122_880):
        rows += batch.num_rows
    conn.close()
    return time.perf_counter() - started


CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.sync import catalog, engine
from driftline.sync.spec import SyncSpec
data, folder = Path(sys.argv[1]), sys.argv[2]
store = DuckDBStore(data, memory_limit=sys.argv[-1])
store.create_project("default")
writer = GroupCommitWriter(store)
catalog.add_warehouse(writer, 1, "files", "duckdb:///" + folder)
catalog.add_sync(store, writer, 1, SyncSpec(
    name="orders", warehouse="files", table="orders", type="events", mode="append",
    event_name="Order Placed", time_column="created_at", user_id_column="user_id",
    insert_id_column="id", json_properties_column="props", insert_time_column="created_at"))
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
started, cpu0 = time.perf_counter(), cpu()
out = engine.run_sync(store, writer, 1, "orders")
seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu0
stored = store.count_events(1)
writer.close(); store.close()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "stored": stored, "peak_rss_kb": usage.ru_maxrss,
                  "cpu_seconds": cpu_seconds}))
"""


def sync_once(folder: Path, memory_limit: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="dl-sync-bench-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, os.path.join(tmp, "data"), str(folder.resolve()), memory_limit],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default="1GB", help="The store's DuckDB memory limit.")
    parser.add_argument(
        "--source", choices=["parquet", "duckdb"], default="parquet",
        help="Read a Parquet folder, or a DuckDB database file holding the same table.",
    )  # fmt: skip
    args = parser.parse_args()
    folder = ensure_data(args.rows) if args.source == "parquet" else ensure_duckdb_file(args.rows)
    reads, syncs = [], []
    for _ in range(args.repeat):
        reads.append(raw_read(folder))
        run = sync_once(folder, args.memory_limit)
        assert run["stored"] == args.rows, run
        syncs.append(run)
        print(f"raw read {args.rows / reads[-1]:,.0f} rows/s · sync {args.rows / run['seconds']:,.0f} rows/s "
              f"({run['cpu_seconds']:.1f} CPU-s), "
              f"peak RSS {run['peak_rss_kb'] / 1024:.0f} MiB", flush=True)  # fmt: skip
    read_rate = args.rows / statistics.median(reads)
    sync_rate = args.rows / statistics.median(r["seconds"] for r in syncs)
    peak = max(r["peak_rss_kb"] for r in syncs) / 1024
    cpu = statistics.median(r["cpu_seconds"] for r in syncs)
    print(
        f"median ({args.source}): DuckDB → Arrow {read_rate:,.0f} rows/s · Append sync {sync_rate:,.0f} rows/s · "
        f"ratio {sync_rate / read_rate:.2f} · sync CPU {cpu:.1f} s · peak RSS {peak:.0f} MiB · "
        f"load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
