"""Headline figure: `driftline import events` throughput on a 1,000,000-event NDJSON file,
beside a plain DuckDB `read_json` + INSERT of the same file (the practical limit here).

Usage: python benchmarks/import_events.py [--events 1000000] [--repeat 5]

Each repetition imports into a fresh data directory. "driftline" is measured from the first
byte read to the store closed and checkpointed, through the same code path as the CLI
(the fast path for a clean file: one statement); "driftline CLI" is the whole `driftline
import events` process, start-up included; "exact path" is the record-by-record path that
files with invalid records take (reader, validation in Arrow chunks, group-commit writer). The baseline reads the file with DuckDB's JSON reader
into a table of (event VARCHAR, properties JSON) and checkpoints. Medians are reported.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks.make_events_file import make_events_file
from driftline.cli.runtime import LocalSession
from driftline.ingest.importer import import_event_files
from driftline.server.ops import Context
from driftline.store import AppendEventStream, DuckDBStore, GroupCommitWriter


def run_driftline(
    path: Path, workdir: Path, chunk_rows: int = 250_000, *, fast: bool = True
) -> float:
    data_dir = workdir / "dl"
    shutil.rmtree(data_dir, ignore_errors=True)
    started = time.perf_counter()
    store = DuckDBStore(data_dir)
    project = store.create_project("bench")
    writer = GroupCommitWriter(store)
    session = LocalSession(Context(store, writer))
    report = import_event_files(
        [path],
        project_id=project.id,
        sink=lambda tables: writer.write(AppendEventStream(tables)),
        chunk_rows=chunk_rows,
        bulk=session.bulk_sink if fast else None,
    )
    writer.close()
    store.close()
    elapsed = time.perf_counter() - started
    assert report.stored == report.records and report.invalid == 0, report
    return elapsed


def run_cli(path: Path, workdir: Path) -> float:
    data_dir = workdir / "cli"
    shutil.rmtree(data_dir, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "driftline", "init", "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
    )
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "driftline",
            "import",
            "events",
            str(path),
            "--data-dir",
            str(data_dir),
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def run_baseline(path: Path, workdir: Path) -> float:
    db = workdir / "baseline.duckdb"
    for f in (db, Path(str(db) + ".wal")):
        f.unlink(missing_ok=True)
    started = time.perf_counter()
    conn = duckdb.connect(str(db), config={"threads": "2"})
    reader = f"read_json('{path}', columns = {{'event': 'VARCHAR', 'properties': 'JSON'}})"
    conn.execute(f"CREATE TABLE e AS SELECT * FROM {reader} LIMIT 0")
    conn.execute(f"INSERT INTO e SELECT * FROM {reader}")
    conn.execute("CHECKPOINT")
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dl-bench-"))
    path = workdir / "events.ndjson"
    make_events_file(str(path), args.events)
    size_mb = path.stat().st_size / 1e6
    results: dict[str, list[float]] = {
        "driftline": [],
        "driftline CLI": [],
        "driftline, exact path": [],
        "duckdb read_json + INSERT": [],
    }
    for _ in range(args.repeat):  # interleaved, so that load changes hit both alike
        results["duckdb read_json + INSERT"].append(run_baseline(path, workdir))
        results["driftline"].append(run_driftline(path, workdir, args.chunk_rows))
        results["driftline CLI"].append(run_cli(path, workdir))
        results["driftline, exact path"].append(
            run_driftline(path, workdir, args.chunk_rows, fast=False)
        )
    shutil.rmtree(workdir, ignore_errors=True)
    base = statistics.median(results["duckdb read_json + INSERT"])
    print(f"{args.events:,} events, {size_mb:.0f} MB NDJSON, {args.repeat} runs, medians:")
    print("| what | seconds | events/s | ratio to baseline (throughput) |")
    print("|---|---|---|---|")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"| {name} | {med:.2f} | {args.events / med:,.0f} | {base / med:.2f} |")


if __name__ == "__main__":
    main()
