"""Benchmark: the writer's share of a live Snowplow collector commit, in-process.

    python benchmarks/snowplow_writer.py [--requests 100] [--commits 24] [--repeat 3]
        [--baseline-src /path/to/other/src]

Builds ``--commits`` batches of ``--requests`` tracker requests (10 events each, the
JavaScript tracker's shape, as ``snowplow_collector_wrk.py`` sends them) with the collector,
then times only the store: one ``DuckDBStore.apply(AppendEnriched(built=...))`` per batch
(``snowplow_events`` and ``events`` rows, identities, the commit), DuckDB on one thread as
under live load, the final checkpoint included. Prints process CPU per event; the first
three commits are warm-up. With ``--baseline-src`` the same runs alternate with another
source tree (a subprocess with that tree on ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


def measure(requests: int, commits: int) -> float:
    """CPU µs per event of the store's apply over the measured commits."""
    from snowplow_collector_wrk import template

    from driftline.snowplow import config as sp_config
    from driftline.snowplow.collector import Collector, Request, build_tables
    from driftline.snowplow.events import EVENTS_SQL
    from driftline.store import DuckDBStore
    from driftline.store.snowplow import AppendEnriched

    body = template().decode()
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "data", threads=1)
        project = store.create_project("default")
        collector = Collector(sp_config.load(None), lambda: [project])
        path = "/com.snowplowanalytics.snowplow/tp2"
        batches = []
        for b in range(commits + 3):
            items = []
            for r in range(requests):
                text = body.replace("EID00000-0000-4000-8000-", f"E{b:03d}{r:04d}-0000-4000-8000-")
                request = Request(
                    "POST",
                    path,
                    "",
                    [("content-type", "application/json")],
                    text.encode(),
                    "10.0.0.1",
                )
                output = collector.handle(request, path, project).output
                assert output is not None
                items += output.items
            batches.append(build_tables(items))
        events = 0
        start = time.process_time()
        for i, (enriched, rows) in enumerate(batches):
            if i == 3:
                events, start = 0, time.process_time()
            op = AppendEnriched(None, EVENTS_SQL, built=[(enriched, rows)])
            op.sources = requests  # live traffic (older trees take no ``sources`` argument)
            store.apply([op])
            events += enriched.num_rows
        store.close()
        return (time.process_time() - start) / events * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100, help="requests per commit")
    parser.add_argument("--commits", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-src", default=None)
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.once:
        print(measure(args.requests, args.commits))
        return
    trees = [("this tree", None)] + ([("baseline", args.baseline_src)] if args.baseline_src else [])
    results: dict[str, list[float]] = {label: [] for label, _ in trees}
    for _ in range(args.repeat):
        for label, src in trees:
            env = dict(os.environ)
            if src:
                env["PYTHONPATH"] = src
            cmd = [sys.executable, __file__, "--once", "--requests", str(args.requests)]
            cmd += ["--commits", str(args.commits)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            value = float(out.stdout.strip().splitlines()[-1])
            results[label].append(value)
            print(
                f"{label}: {value:.1f} µs of CPU per event ({args.requests * 10} events a commit)"
            )
    for label, values in results.items():
        print(f"median {label}: {statistics.median(values):.1f} µs per event")


if __name__ == "__main__":
    main()
