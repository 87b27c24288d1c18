"""Benchmark: `driftline import snowplow` of a gzip enriched TSV file.

    python benchmarks/snowplow_import.py [--events 200000] [--repeat 3] [--no-exact]

Generates distinct enriched events (page views, structured and self-describing events with a
context and the UA parser's derived context, ~1.6 KB a line as Enrich writes them), gzips
them, then imports the file into a fresh store in-process (what the CLI does without a
server): parse, check, cast, store the 131 columns and the mapped driftline events, commit.
Each run imports the file twice into fresh stores, alternately: through the fast path (the
store reads the whole file itself, the default for local files) and through the exact path
(``import_files(..., fast=False)``: Arrow blocks of lines, checked block by block).
Baselines in the same run: only decompressing and splitting the file into lines (pyarrow),
and DuckDB's ``read_csv`` of the same file into a plain table of 131 text columns, committed.
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

import duckdb
from snowplow_data import write_enriched

from driftline.snowplow.importer import import_files, read_lines
from driftline.store import DuckDBStore, GroupCommitWriter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="imports into fresh stores")
    parser.add_argument("--no-exact", action="store_true", help="skip the exact-path runs")
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

        columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(131)) + "}"
        plain = []
        for run in range(args.repeat):
            load0 = os.getloadavg()[0]
            con = duckdb.connect(str(root / f"plain{run}.duckdb"))
            cpu0, t0 = os.times(), time.perf_counter()
            con.execute(
                f"CREATE TABLE plain AS SELECT * FROM read_csv('{source}', delim = '\t', "
                f"quote = '', escape = '', header = false, auto_detect = false, "
                f"columns = {columns}, compression = 'gzip')"
            )
            wall, cpu = time.perf_counter() - t0, _cpu(cpu0)
            con.close()
            plain.append((lines / wall, lines / cpu))
            print(
                f"baseline (DuckDB read_csv into a plain 131-column table): {lines / wall:,.0f} "
                f"rows/s ({wall:.2f}s), {lines / cpu:,.0f} rows per CPU-second; load average "
                f"{load0:.1f} -> {os.getloadavg()[0]:.1f}",
                flush=True,
            )

        paths = [("fast", True)] + ([] if args.no_exact else [("exact", False)])
        results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in paths}
        for run in range(args.repeat):
            for name, fast in paths:
                load0 = os.getloadavg()[0]
                store = DuckDBStore(root / f"data-{name}{run}")
                store.create_project("default")
                writer = GroupCommitWriter(store)
                cpu0, t0 = os.times(), time.perf_counter()
                summary = import_files(store, writer, str(source), 1, fast=fast)
                wall, cpu = time.perf_counter() - t0, _cpu(cpu0)
                writer.close()
                stored = store.query_rows("SELECT count(*) FROM events")[0][0]
                store.close()
                results[name].append((summary.events / wall, summary.events / cpu))
                print(
                    f"import ({name}): {summary.events:,} events ({stored:,} in events) in "
                    f"{wall:.2f}s = {summary.events / wall:,.0f} events/s; CPU {cpu:.1f}s "
                    f"({summary.events / cpu:,.0f} events per CPU-second); ratio to baseline "
                    f"{base / wall:.2f}; load average {load0:.1f} -> {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        med = {name: _medians(rows) for name, rows in results.items()}
        med["baseline read_csv"] = _medians(plain)
        print(f"medians of {args.repeat}:")
        for name, (rate, per_cpu) in med.items():
            print(f"  {name}: {rate:,.0f} events/s, {per_cpu:,.0f} events per CPU-second")
        if "exact" in med:
            print(f"  fast / exact per CPU-second: {med['fast'][1] / med['exact'][1]:.2f}")
        print(
            f"  fast / baseline read_csv per CPU-second: "
            f"{med['fast'][1] / med['baseline read_csv'][1]:.2f}"
        )


def _cpu(start: os.times_result) -> float:
    now = os.times()
    return (now.user - start.user) + (now.system - start.system)


def _medians(rows: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)


if __name__ == "__main__":
    main()
