"""Benchmark: Append sync of a 2,000,000-row PostgreSQL table (6 columns incl. jsonb) into
the store, against a raw ``COPY ... TO STDOUT`` of the same table in the same run.

    python benchmarks/sync_postgres.py [--rows 2000000] [--repeat 3]

Needs the PostgreSQL server at 127.0.0.1:5432 (trust auth). The table lives in database
``dl_sync_bench`` and is created once. Each sync runs in a fresh child process on a fresh
data directory, so its peak RSS is its own.
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

import psycopg

DB = "dl_sync_bench"
DSN = f"host=127.0.0.1 user=postgres dbname={DB}"


def ensure_table(rows: int) -> None:
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone():
            admin.execute(f"CREATE DATABASE {DB}")
    with psycopg.connect(DSN, autocommit=True) as conn:
        have = conn.execute("SELECT to_regclass('public.orders') IS NOT NULL").fetchone()[0]
        if have and conn.execute("SELECT count(*) FROM orders").fetchone()[0] == rows:
            return
        conn.execute("DROP TABLE IF EXISTS orders")
        conn.execute(
            """CREATE TABLE orders (id bigint PRIMARY KEY, user_id text, sku text,
               amount double precision, props jsonb, created_at timestamptz)"""
        )
        conn.execute(
            """INSERT INTO orders
               SELECT i, 'user-' || (i %% 100000), 'sku-' || (i %% 500), (i %% 10000) / 100.0,
                      jsonb_build_object('channel', (ARRAY['web','ios','android'])[1 + i %% 3],
                                         'coupon', CASE WHEN i %% 7 = 0 THEN 'SPRING' END,
                                         'items', 1 + i %% 5),
                      timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'
               FROM generate_series(1, %s) i""",
            [rows],
        )
        conn.execute("VACUUM ANALYZE orders")


def raw_copy() -> tuple[float, int]:
    """Seconds and bytes for COPY (SELECT *) TO STDOUT, bytes discarded."""
    with psycopg.connect(DSN) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        total = 0
        with cur.copy("COPY (SELECT * FROM orders) TO STDOUT WITH (FORMAT csv)") as copy:
            for chunk in copy:
                total += len(chunk)
        return time.perf_counter() - started, total


CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.sync import catalog, engine
from driftline.sync.spec import SyncSpec
data = Path(sys.argv[1])
store = DuckDBStore(data, memory_limit=sys.argv[-1])
store.create_project("default")
writer = GroupCommitWriter(store)
catalog.add_warehouse(writer, 1, "bench", "postgresql://postgres@127.0.0.1:5432/dl_sync_bench")
catalog.add_sync(store, writer, 1, SyncSpec(
    name="orders", warehouse="bench", table="public.orders", type="events", mode="append",
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
peak = usage.ru_maxrss
print(json.dumps({"seconds": seconds, "rows": out["rows_read"], "stored": stored, "peak_rss_kb": peak,
                  "cpu_seconds": cpu_seconds}))
"""


def sync_once(memory_limit: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="dl-sync-bench-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, os.path.join(tmp, "data"), memory_limit],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default="1GB", help="The store's DuckDB memory limit.")
    args = parser.parse_args()
    ensure_table(args.rows)
    copies, syncs = [], []
    for _ in range(args.repeat):
        seconds, nbytes = raw_copy()
        copies.append(seconds)
        run = sync_once(args.memory_limit)
        assert run["stored"] == args.rows, run
        syncs.append(run)
        print(f"copy {args.rows / seconds:,.0f} rows/s ({nbytes / seconds / 1e6:.0f} MB/s) · "
              f"sync {args.rows / run['seconds']:,.0f} rows/s ({run['cpu_seconds']:.1f} CPU-s), peak RSS {run['peak_rss_kb'] / 1024:.0f} MiB",
              flush=True)  # fmt: skip
    copy_rate = args.rows / statistics.median(copies)
    sync_rate = args.rows / statistics.median(r["seconds"] for r in syncs)
    peak = max(r["peak_rss_kb"] for r in syncs) / 1024
    cpu = statistics.median(r["cpu_seconds"] for r in syncs)
    print(
        f"median: raw COPY {copy_rate:,.0f} rows/s · Append sync {sync_rate:,.0f} rows/s · "
        f"ratio {sync_rate / copy_rate:.2f} · sync CPU {cpu:.1f} s · peak RSS {peak:.0f} MiB · "
        f"load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
