"""Build a data directory with N events (default 10,000,000) for the query benchmarks.

Usage: python benchmarks/query_data.py DATA_DIR [--events 10000000] [--seed 7]

The events are made by DuckDB SQL in memory (20 event names, ~200,000 users, 90 days from
2025-01-01, an anonymous device phase before sign-up that identity merge resolves, six
properties) and committed through the store's ``AppendEvents`` in time-ordered chunks, the
way an import would. User profiles (plan, country) and a SKU lookup table come with them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

from driftline.store import AppendEvents, DuckDBStore, ReplaceLookupTable, UpsertProfiles

EVENTS = [
    "Sign Up", "Log In", "View Page", "Search", "Add To Cart", "Purchase", "Invite Sent",
    "Upgrade Plan", "Open App", "Click", "Share", "Comment", "Like", "Download", "Upload",
    "Logout", "Settings", "Help", "Notification", "Error",
]  # fmt: skip
# skewed: page views and clicks are common, sign-ups and purchases rarer
WEIGHTS = [2, 8, 30, 10, 6, 3, 2, 1, 8, 12, 2, 2, 4, 2, 1, 2, 1, 1, 2, 1]


def _event_sql(lo: int, hi: int, users: int) -> str:
    names = "[" + ", ".join(f"'{n}'" for n in EVENTS) + "]"
    cum, acc = [], 0
    for w in WEIGHTS:
        acc += w
        cum.append(acc)
    case = " ".join(f"WHEN r < {c} THEN {i + 1}" for i, c in enumerate(cum))
    return f"""
    WITH base AS (
      SELECT i,
             hash(i * 7 + 1) % {sum(WEIGHTS)} AS r,
             hash(i * 13 + 5) % {users} AS u,
             TIMESTAMP '2025-01-01' + to_milliseconds(CAST(i * (7776000000 // {hi if hi else 1}) AS BIGINT)
                                     + CAST(hash(i) % 1000 AS BIGINT)) AS time
      FROM range({lo}, {hi}) t(i)
    ), named AS (
      SELECT *, {names}[CASE {case} ELSE 1 END] AS event FROM base
    )
    SELECT 1::INTEGER AS project_id, event, time,
           CASE WHEN hash(i * 3) % 10 = 0 THEN '$device:d' || u ELSE 'user-' || u END AS distinct_id,
           'd' || u AS device_id,
           CASE WHEN hash(i * 3) % 10 = 0 THEN NULL ELSE 'user-' || u END AS user_id,
           md5(CAST(i AS VARCHAR))[1:32] AS insert_id,
           CAST(json_object(
             'plan', (['free', 'team', 'business'])[1 + CAST(u % 3 AS INTEGER)],
             'country', (['US', 'DE', 'FR', 'GB', 'IN', 'BR', 'JP'])[1 + CAST(hash(u) % 7 AS INTEGER)],
             'sku', 'sku-' || (i % 500),
             'price', round((hash(i) % 20000) / 100.0, 2),
             '$browser', (['Chrome', 'Firefox', 'Safari', 'Edge'])[1 + CAST(i % 4 AS INTEGER)],
             '$current_url', 'https://app.example.com/p/' || (i % 977)
           ) AS VARCHAR) AS properties,
           'import' AS origin, NULL::VARCHAR AS origin_key
    FROM named
    """


def build(data_dir: Path, events: int, chunk: int = 1_000_000, users: int = 200_000) -> None:
    store = DuckDBStore(data_dir)
    if not store.list_projects():
        store.create_project("default")
    gen = duckdb.connect(config={"threads": "2"})
    started = time.perf_counter()
    for lo in range(0, events, chunk):
        hi = min(events, lo + chunk)
        sql = _event_sql(lo, hi, users).replace(f"// {hi if hi else 1}", f"// {events}")
        table = gen.sql(sql).to_arrow_table()
        store.apply([AppendEvents(table)])
        print(f"{hi:,} events ({time.perf_counter() - started:.0f}s)", flush=True)
    profiles = gen.sql(
        f"""SELECT 1::INTEGER AS project_id, 'user-' || u AS distinct_id,
                   CAST(json_object('plan', (['free','team','business'])[1 + CAST(u % 3 AS INTEGER)],
                                    'country', (['US','DE','FR','GB','IN','BR','JP'])[1 + CAST(hash(u) % 7 AS INTEGER)])
                        AS VARCHAR) AS properties,
                   'import' AS origin
            FROM range({users}) t(u)"""
    ).to_arrow_table()
    skus = gen.sql(
        """SELECT 'sku-' || i AS row_id,
                  CAST(json_object('category', (['books','games','music','tools','garden'])[1 + CAST(i % 5 AS INTEGER)])
                       AS VARCHAR) AS properties
           FROM range(500) t(i)"""
    ).to_arrow_table()
    store.apply([UpsertProfiles(profiles), ReplaceLookupTable(1, "skus", "SKUs", "sku", skus)])
    store.close()
    print(f"done in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--events", type=int, default=10_000_000)
    args = parser.parse_args()
    build(args.data_dir, args.events)
