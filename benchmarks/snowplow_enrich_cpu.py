"""Benchmark: CPU per event of the collector's enrichment, in-process, no HTTP, no store.

    python benchmarks/snowplow_enrich_cpu.py [--batch 64] [--batches 30] [--rounds 5]
        [--baseline-src /work/main/src]

What a collector worker does for each batch of requests: ``Collector.handle`` for each of
``--batch`` POSTs of 10 tracker events (page views, structured events, link clicks with a
``web_page`` context, as the JavaScript tracker sends them; every event with its own id),
then ``build_tables`` on all their items (after one batch of warm-up). Prints the CPU time
(``time.process_time``: user + system) per event of each part, per round and the median of
the rounds. With ``--baseline-src`` each round also runs the same measurement on that source
tree in a child process, the two alternating, so that both see the same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

TP2 = "/com.snowplowanalytics.snowplow/tp2"
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)


def cpu() -> float:
    return time.process_time()


def measure(batch: int, batches: int) -> dict[str, float]:
    """µs of CPU per event for handle and for build_tables over ``batches`` batches."""
    from snowplow_collector_wrk import template

    from driftline.model import Project
    from driftline.snowplow import config as sp_config
    from driftline.snowplow.collector import Collector, Request, build_tables

    project = Project(id=1, name="default", token="t", secret="s")
    collector = Collector(sp_config.load(None), lambda: [project])
    body = template().decode()
    headers = [("content-type", "application/json; charset=UTF-8"), ("user-agent", UA)]
    work = [
        [
            Request(
                "POST",
                TP2,
                "",
                headers,
                body.replace("EID00000-", f"E{b:03d}{r:04d}-").encode(),
                "10.0.0.1",
            )
            for r in range(batch)
        ]
        for b in range(batches + 1)
    ]
    # warm-up, not counted: schemas compiled, caches filled, pyarrow's kernels loaded
    build_tables([i for r in work.pop() for i in collector.handle(r, TP2, project).output.items])
    handle = build = 0.0
    events = 0
    for requests in work:
        start = cpu()
        items = []
        for request in requests:
            handled = collector.handle(request, TP2, project)
            assert handled.output is not None and not handled.output.bad
            items += handled.output.items
        middle = cpu()
        build_tables(items)
        handle += middle - start
        build += cpu() - middle
        events += len(items)
    return {"handle": handle / events * 1e6, "build_tables": build / events * 1e6}


def child(src: str, batch: int, batches: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=src)
    args = [sys.executable, __file__, "--child", "--batch", str(batch), "--batches", str(batches)]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-src")
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.batch, args.batches)))
        return
    here = str(HERE.parent / "src")
    trees = {"this tree": here} | ({"baseline": args.baseline_src} if args.baseline_src else {})
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for i in range(args.rounds):
        for name, src in trees.items():
            r = child(src, args.batch, args.batches)
            runs[name].append(r)
            total = r["handle"] + r["build_tables"]
            print(
                f"round {i + 1} {name:10s} handle {r['handle']:6.1f}  "
                f"build_tables {r['build_tables']:5.1f}  total {total:6.1f} µs/event"
            )
    for name, results in runs.items():
        h = statistics.median(r["handle"] for r in results)
        b = statistics.median(r["build_tables"] for r in results)
        t = statistics.median(r["handle"] + r["build_tables"] for r in results)
        print(f"median {name:10s} handle {h:6.1f}  build_tables {b:5.1f}  total {t:6.1f} µs/event")


if __name__ == "__main__":
    main()
