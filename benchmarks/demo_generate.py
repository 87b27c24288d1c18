"""How fast the demo dataset is generated and loaded.

Usage: python benchmarks/demo_generate.py [--events 1000000] [--repeat 3] [--no-cli]

Measures, each ``--repeat`` times (medians printed):

* generate: the events (Arrow tables), profiles and company groups, in memory only;
* load: ``load_demo`` into a fresh store through the group-commit writer (what
  ``driftline demo`` does in-process);
* baseline: appending the very same, already generated, event tables to a fresh store
  (the store's own cost; ``load`` cannot be faster than this);
* cli (once): ``driftline demo --events N`` as a subprocess on a fresh data directory,
  process start-up included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from driftline.demo import DemoData, DemoSpec, load_demo
from driftline.store import AppendEvents, DuckDBStore, GroupCommitWriter

LAST_DAY = dt.date(2026, 3, 31)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def generate(spec: DemoSpec) -> None:
    data = DemoData(spec)
    for _ in data.event_batches():
        pass
    data.profiles()
    data.groups()


def with_fresh_store(work: Callable[[GroupCommitWriter], object]) -> float:
    with tempfile.TemporaryDirectory(prefix="dl_demo_bench_") as tmp:
        store = DuckDBStore(Path(tmp) / "data")
        store.create_project("default")
        writer = GroupCommitWriter(store)
        try:
            return timed(lambda: (work(writer), writer.close()))
        finally:
            store.close()


def append_all(tables: list, writer: GroupCommitWriter) -> None:
    futures = [writer.submit(AppendEvents(t), wait_for_room=True) for t in tables]
    for future in futures:
        future.result()


def cli(events: int) -> float:
    with tempfile.TemporaryDirectory(prefix="dl_demo_bench_") as tmp:
        command = [sys.executable, "-m", "driftline", "demo", "--events", str(events)]
        command += ["--end-date", LAST_DAY.isoformat(), "--data-dir", str(Path(tmp) / "data")]
        return timed(lambda: subprocess.run(command, check=True, capture_output=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-cli", action="store_true")
    args = parser.parse_args()
    spec = DemoSpec(events=args.events, seed=42, last_day=LAST_DAY)
    tables = list(DemoData(spec).event_batches())
    runs: dict[str, list[float]] = {"generate": [], "load": [], "baseline": []}
    for _ in range(args.repeat):
        runs["generate"].append(timed(lambda: generate(spec)))
        runs["load"].append(with_fresh_store(lambda w: load_demo(w, spec)))
        runs["baseline"].append(with_fresh_store(lambda w: append_all(tables, w)))
    medians = {name: statistics.median(values) for name, values in runs.items()}
    if not args.no_cli:
        medians["cli"] = cli(args.events)
    print(f"events: {args.events:,}  repeat: {args.repeat}  load average: {os.getloadavg()[0]:.2f}")
    for name, seconds in medians.items():
        rate = args.events / seconds
        print(f"{name:9s} {seconds:7.2f} s  {rate:>12,.0f} events/s")
    print(f"load / baseline: {medians['load'] / medians['baseline']:.2f}")


if __name__ == "__main__":
    main()
