"""Benchmark: `driftline export snowplow` (TSV and Analytics SDK JSON) of a store's enriched
events, through the CLI, as a user runs it.

    python benchmarks/snowplow_export.py [--events 200000] [--repeat 3]
        [--baseline-src /path/to/other/src]

Imports ``--events`` generated enriched events (``snowplow_data.write_enriched``) into a
fresh store once, then times ``export snowplow -o FILE`` for each shape, alternating with
another source tree's CLI on the same store when ``--baseline-src`` is given (its
``PYTHONPATH``). Checks that both trees write the same TSV bytes and the same JSON objects
(decimals compared as numbers).
Prints events/s per run and the medians.
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
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from snowplow_data import write_enriched  # noqa: E402

from driftline.snowplow.fields import FIELD_KINDS  # noqa: E402


def cli(src: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    return subprocess.run(
        [sys.executable, "-m", "driftline", *args], check=True, capture_output=True, text=True,
        env=env,
    )  # fmt: skip


DECIMALS = {name for name, kind in FIELD_KINDS.items() if kind == "decimal"}


def _numbers(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with decimals as numbers: trees before 2026-12-07 wrote them as text."""
    return {k: float(v) if k in DECIMALS and isinstance(v, str) else v for k, v in doc.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-src", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = write_enriched(root / "enriched.tsv.gz", args.events)
        data = str(root / "data")
        cli(None, "init", "--data-dir", data)
        cli(None, "import", "snowplow", str(source), "--data-dir", data)
        trees = [("this tree", None)]
        if args.baseline_src:
            trees.append(("baseline", args.baseline_src))
        results: dict[tuple[str, str], list[float]] = {}
        outputs: dict[tuple[str, str], Path] = {}
        for run in range(args.repeat):
            for shape in ("tsv", "json"):
                for label, src in trees:
                    out = root / f"{label.replace(' ', '-')}-{run}.{shape}"
                    started = time.perf_counter()
                    cli(src, "export", "snowplow", "--shape", shape, "-o", str(out),
                        "--data-dir", data)  # fmt: skip
                    wall = time.perf_counter() - started
                    results.setdefault((label, shape), []).append(args.events / wall)
                    print(f"{label} {shape}: {args.events / wall:,.0f} events/s ({wall:.2f}s)",
                          flush=True)  # fmt: skip
                    previous = outputs.get((label, shape))
                    if previous is not None:
                        previous.unlink()
                    outputs[(label, shape)] = out
        if args.baseline_src:
            mine, theirs = outputs[("this tree", "tsv")], outputs[("baseline", "tsv")]
            assert mine.read_bytes() == theirs.read_bytes(), "the TSV exports differ"
            with mine.with_suffix(".json").open() as a, theirs.with_suffix(".json").open() as b:
                for x, y in zip(a, b, strict=True):
                    assert json.loads(x) == _numbers(json.loads(y)), "the JSON exports differ"
            print("both trees wrote the same TSV bytes and the same JSON objects")
        print(f"medians of {args.repeat}:")
        for shape in ("tsv", "json"):
            line = f"  {shape}: " + ", ".join(
                f"{label} {statistics.median(results[(label, shape)]):,.0f} events/s"
                for label, _ in trees
            )
            if args.baseline_src:
                ratio = statistics.median(results[("this tree", shape)]) / statistics.median(
                    results[("baseline", shape)]
                )
                line += f" (ratio {ratio:.2f})"
            print(line)


if __name__ == "__main__":
    main()
