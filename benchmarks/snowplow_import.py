"""Benchmark: `driftline import snowplow` of a gzip enriched TSV file.

    python benchmarks/snowplow_import.py [--events 200000]

Generates distinct enriched events (page views, structured and self-describing events with a
context and the UA parser's derived context, ~1.6 KB a line as Enrich writes them), gzips
them, then imports the file into a fresh store in-process (what the CLI does without a
server): parse, check, cast, store the 131 columns and the mapped driftline events, commit.
Baseline in the same run: only decompressing and splitting the file into lines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from snowplow_data import write_enriched

from driftline.snowplow.importer import import_files, read_lines
from driftline.store import DuckDBStore, GroupCommitWriter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="imports into fresh stores")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        source = write_enriched(root / "enriched.tsv.gz", args.events)
        print(f"generated {args.events:,} events, {source.stat().st_size / 1e6:.1f} MB gzip "
              f"in {time.perf_counter() - t0:.1f}s", flush=True)  # fmt: skip

        t0 = time.perf_counter()
        lines = sum(len(chunk) for chunk in read_lines(str(source)))
        base = time.perf_counter() - t0
        print(
            f"baseline (gunzip + split lines): {lines / base:,.0f} lines/s ({base:.2f}s)",
            flush=True,
        )

        rates, cpus = [], []
        for run in range(args.repeat):
            load0 = os.getloadavg()[0]
            store = DuckDBStore(root / f"data{run}")
            store.create_project("default")
            writer = GroupCommitWriter(store)
            cpu0, t0 = os.times(), time.perf_counter()
            summary = import_files(store, writer, str(source), 1)
            wall = time.perf_counter() - t0
            cpu1 = os.times()
            writer.close()
            stored = store.query_rows("SELECT count(*) FROM events")[0][0]
            store.close()
            cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
            rates.append(summary.events / wall)
            cpus.append(summary.events / cpu)
            print(
                f"import: {summary.events:,} events ({stored:,} in events) in {wall:.2f}s = "
                f"{summary.events / wall:,.0f} events/s; CPU {cpu:.1f}s "
                f"({summary.events / cpu:,.0f} events per CPU-second); ratio to baseline "
                f"{base / wall:.2f}; load average {load0:.1f} -> {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        print(
            f"median of {args.repeat}: {statistics.median(rates):,.0f} events/s, "
            f"{statistics.median(cpus):,.0f} events per CPU-second"
        )


if __name__ == "__main__":
    main()
