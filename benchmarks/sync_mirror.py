"""Benchmark: Mirror sync of a 5,000,000-row PostgreSQL table, then 1% of its rows changed
(a third inserted, a third updated, a third deleted) and the incremental run, in the same
run of this script.

    python benchmarks/sync_mirror.py [--rows 5000000] [--changed 0.01] [--repeat 3]

Reports for each run: wall seconds of the initial load and of the incremental run (each in a
fresh child process on the same data directory), rows and bytes moved (the checksum scan's
and the rows' own, as Arrow bytes received), and the warehouse-side execution time of the
checksum scan and of the fetch queries (``EXPLAIN ANALYZE`` on the server, nothing sent).
Needs PostgreSQL at 127.0.0.1:5432 (trust auth); the table lives in ``dl_mirror_bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

import psycopg

DB = "dl_mirror_bench"
DSN = f"host=127.0.0.1 user=postgres dbname={DB}"
URL = f"postgresql://postgres@127.0.0.1:5432/{DB}"
ROW = """SELECT i, 'user-' || (i %% 100000), 'sku-' || (i %% 500), (i %% 10000) / 100.0,
                jsonb_build_object('channel', (ARRAY['web','ios','android'])[1 + i %% 3],
                                   'coupon', CASE WHEN i %% 7 = 0 THEN 'SPRING' END,
                                   'items', 1 + i %% 5),
                timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'"""


def ensure_table(rows: int) -> None:
    """The table as generated: rows 1..N, nothing changed (restored after a run)."""
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone():
            admin.execute(f"CREATE DATABASE {DB}")
    with psycopg.connect(DSN, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('public.orders') IS NOT NULL").fetchone()[0]:
            conn.execute(
                """CREATE TABLE orders (id bigint PRIMARY KEY, user_id text, sku text,
                   amount double precision, props jsonb, created_at timestamptz)"""
            )
        conn.execute("DELETE FROM orders WHERE id > %s", [rows])
        conn.execute(
            f"INSERT INTO orders {ROW} FROM generate_series(1, %s) i ON CONFLICT (id) DO NOTHING",
            [rows],
        )
        conn.execute("UPDATE orders SET amount = (id % 10000) / 100.0 WHERE amount >= 1000")
        conn.execute("VACUUM ANALYZE orders")


def change(rows: int, share: float) -> dict[str, list[int]]:
    """Insert, update and delete a third of ``share`` of the rows each."""
    n = max(3, int(rows * share)) // 3
    step = rows // n
    updated = list(range(1, rows + 1, step))[:n]
    deleted = list(range(2, rows + 1, step))[:n]
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO orders {ROW} FROM generate_series(%s, %s) i", [rows + 1, rows + n]
        )
        conn.execute("UPDATE orders SET amount = amount + 1000 WHERE id = ANY(%s)", [updated])
        conn.execute("DELETE FROM orders WHERE id = ANY(%s)", [deleted])
    return {"inserted": list(range(rows + 1, rows + n + 1)), "updated": updated, "deleted": deleted}


CHILD = r"""
import json, sys, time
from pathlib import Path
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.sync import catalog, engine
from driftline.sync.spec import SyncSpec
data, url, first = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "first"
store = DuckDBStore(data, memory_limit="1GB")
writer = GroupCommitWriter(store)
if first:
    store.create_project("default")
    catalog.add_warehouse(writer, 1, "bench", url)
    catalog.add_sync(store, writer, 1, SyncSpec(
        name="orders", warehouse="bench", table="public.orders", type="events", mode="mirror",
        event_name="Order Placed", time_column="created_at", user_id_column="user_id",
        insert_id_column="id", json_properties_column="props"))
started = time.perf_counter()
out = engine.run_sync(store, writer, 1, "orders")
seconds = time.perf_counter() - started
state = json.loads(store.query_rows("SELECT state FROM syncs WHERE name = 'orders'")[0][0])
stored = store.count_events(1)
writer.close(); store.close()
print(json.dumps({"seconds": seconds, "run": out, "detail": state["last_run"], "stored": stored}))
"""


def child(data: str, phase: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, data, URL, phase], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def server_ms(sqls: list[str]) -> float:
    """Execution time on the server (EXPLAIN ANALYZE: the query runs, no rows are sent)."""
    total = 0.0
    with psycopg.connect(DSN, autocommit=True) as conn:
        for sql in sqls:
            plan = conn.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}").fetchone()[0]
            total += float(plan[0]["Execution Time"])
    return total


def warehouse_sql(keys: list[int]) -> tuple[str, list[str]]:
    from driftline.sync.modes.mirror import KEYS_PER_QUERY
    from driftline.sync.sources import open_source
    from driftline.sync.sources.base import TableRef
    from driftline.sync.sources.checksums import rows_sql

    source: Any = open_source(URL)
    try:
        table = source.describe(TableRef.parse("public.orders"))
        columns = [c.name for c in table.columns]
        scan = source.checksum_sql(table, ["id"])
        chunks = [keys[i : i + KEYS_PER_QUERY] for i in range(0, len(keys), KEYS_PER_QUERY)]
        return scan, [rows_sql(source, table, columns, "id", chunk) for chunk in chunks]
    finally:
        source.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = []
    for _ in range(args.repeat):
        ensure_table(args.rows)
        with tempfile.TemporaryDirectory(prefix="dl-mirror-bench-") as tmp:
            data = os.path.join(tmp, "data")
            load1 = os.getloadavg()[0]
            first = child(data, "first")
            assert first["stored"] == args.rows, first
            changed = change(args.rows, args.changed)
            load2 = os.getloadavg()[0]
            second = child(data, "again")
            want = args.rows + len(changed["inserted"]) - len(changed["deleted"])
            assert second["stored"] == want, (second["stored"], want)
            run = second["run"]
            n = len(changed["inserted"])
            assert (run["inserted"], run["updated"], run["deleted"]) == (n, n, n), run
        scan, fetch = warehouse_sql(sorted(changed["inserted"] + changed["updated"]))
        scan_ms, fetch_ms = server_ms([scan]), server_ms(fetch)
        d1, d2 = first["detail"], second["detail"]
        r = {
            "initial_s": first["seconds"], "incremental_s": second["seconds"],
            "ratio": second["seconds"] / first["seconds"],
            "initial_rows": d1["rows_fetched"], "initial_payload_mb": d1["payload_bytes"] / 1e6,
            "rows_fetched": d2["rows_fetched"], "payload_mb": d2["payload_bytes"] / 1e6,
            "checksum_mb": d2["checksum_bytes"] / 1e6, "scan_s": d2["scan_seconds"],
            "fetch_s": d2["fetch_seconds"], "diff_s": d2["diff_seconds"],
            "commit_s": second["seconds"] - d2["before_commit_seconds"], "server_scan_s": scan_ms / 1000,
            "server_fetch_s": fetch_ms / 1000, "fetch_queries": d2.get("fetch_queries"),
            "load": (load1, load2),
        }  # fmt: skip
        results.append(r)
        print(json.dumps(r), flush=True)
    med = {k: statistics.median(r[k] for r in results) for k in results[0] if k != "load"}
    loads = [x for r in results for x in r["load"]]
    print(
        f"median of {len(results)}: initial {med['initial_s']:.1f} s ({med['initial_payload_mb']:.0f} MB) · "
        f"incremental {med['incremental_s']:.1f} s = {100 * med['ratio']:.1f}% of the initial load · "
        f"moved {med['rows_fetched']:,.0f} rows ({med['payload_mb']:.1f} MB) + checksums "
        f"({med['checksum_mb']:.0f} MB) · warehouse time: scan {med['server_scan_s']:.1f} s, "
        f"fetch {med['server_fetch_s']:.2f} s · load {min(loads):.1f}–{max(loads):.1f}"
    )


if __name__ == "__main__":
    main()
