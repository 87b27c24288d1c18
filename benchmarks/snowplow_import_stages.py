"""Where the CPU of the Snowplow import fast path goes, statement by statement.

    python benchmarks/snowplow_import_stages.py [--events 200000] [--threads 2]

Generates the same gzip enriched TSV file as ``snowplow_import.py``, then runs the fast
path's statements one at a time in one transaction of a fresh store and prints wall time and
process CPU time (DuckDB's threads included) for each, with two reading-only baselines: the
CSV reader alone (every line split into 131 text fields, counted) and the reader with the
casts (every typed column counted, nothing written).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from snowplow_data import write_enriched

from driftline.model import WriteResult
from driftline.snowplow.events import EVENTS_SQL
from driftline.store import DuckDBStore
from driftline.store.ops import _settle_new_events
from driftline.store.snowplow import _columns
from driftline.store.snowplow_file import AppendEnrichedFile, _repeats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    args = parser.parse_args()
    n = args.events

    def stage(label: str, run: Callable[[], Any]) -> None:
        cpu0, t0 = os.times(), time.perf_counter()
        run()
        now = os.times()
        cpu = (now.user - cpu0.user) + (now.system - cpu0.system)
        print(
            f"  {label:52s} wall {time.perf_counter() - t0:5.2f}s  CPU {cpu:5.2f}s "
            f"= {cpu / n * 1e6:4.1f} µs/event",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as tmp:
        source = write_enriched(Path(tmp) / "enriched.tsv.gz", n)
        store = DuckDBStore(Path(tmp) / "data", threads=args.threads)
        store.create_project("default")
        conn = store._conn
        columns = _columns(conn)
        op = AppendEnrichedFile(str(source), EVENTS_SQL, project_id=1, gzip=True)
        select = op.source_sql(columns)
        text = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(columns))) + "}"
        counts = ", ".join(f'count("{name}")' for name, _ in columns)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        new = f"(SELECT * FROM snowplow_events WHERE ingested_at = '{now}'::TIMESTAMP)"
        mapping = EVENTS_SQL.replace("{enriched}", new)
        print(f"{n:,} events, DuckDB threads={args.threads}, load {os.getloadavg()[0]:.1f}")
        stage(
            "baseline: CSV reader only (split, count)",
            lambda: conn.execute(
                f"SELECT count(*) FROM read_csv('{source}', delim = '\t', quote = '', "
                f"escape = '', header = false, auto_detect = false, columns = {text}, "
                f"compression = 'gzip')"
            ).fetchall(),
        )
        stage(
            "baseline: CSV reader + casts (count every column)",
            lambda: conn.execute(f"SELECT count(*), {counts} FROM ({select})").fetchall(),
        )
        conn.execute("BEGIN")
        stage(
            "insert snowplow_events (read, cast, write)",
            lambda: op._insert(conn, now, columns, ordered=False),
        )
        stage(
            "event mapping alone (properties summed, not written)",
            lambda: conn.execute(
                f"SELECT count(*), sum(length(properties)) FROM ({mapping})"
            ).fetchall(),
        )
        stage(
            "insert events (mapping + write)", lambda: op._insert_events(conn, now, ordered=False)
        )
        stage("repeated-event check", lambda: _repeats(conn, now))
        stage("replace earlier copies", lambda: op._replace_older(conn, now))
        stage(
            "deduplicate events, link identities",
            lambda: _settle_new_events(
                conn, WriteResult(rows=n, stored=n, committed_at=now), now, now
            ),
        )
        stage("commit", lambda: conn.execute("COMMIT"))
        store.close()


if __name__ == "__main__":
    main()
