"""Shared by the query benchmarks: alternate driftline and the hand-written SQL, take medians.

Each benchmark runs against a data directory made by ``benchmarks/query_data.py`` (10,000,000
events by default) and prints one line per figure: driftline's median, the best hand-written
DuckDB SQL's median for the same answer in the same run, and the ratio. The load average is
printed with it, because the machine is shared.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def compare(
    name: str,
    ours: Callable[[], Any],
    baselines: dict[str, Callable[[], Any]],
    *,
    runs: int = 5,
    check: Callable[[Any, Any], None] | None = None,
) -> dict[str, float]:
    """Warm once, then alternate ``ours`` and each baseline ``runs`` times."""
    ours()
    for fn in baselines.values():
        fn()
    times: dict[str, list[float]] = {"driftline": [], **{k: [] for k in baselines}}
    last: dict[str, Any] = {}
    for _ in range(runs):
        t, last["driftline"] = timed(ours)
        times["driftline"].append(t)
        for key, fn in baselines.items():
            t, last[key] = timed(fn)
            times[key].append(t)
    medians = {k: statistics.median(v) for k, v in times.items()}
    if check is not None:
        for key in baselines:
            check(last["driftline"], last[key])
    best = min((k for k in baselines), key=lambda k: medians[k])
    ratio = medians["driftline"] / medians[best]
    load = os.getloadavg()
    print(
        f"{name}: driftline {medians['driftline']:.3f}s, best hand-written SQL ({best}) "
        f"{medians[best]:.3f}s, ratio {ratio:.2f}x  "
        f"[{', '.join(f'{k} {v:.3f}s' for k, v in medians.items())}] "
        f"load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}",
        flush=True,
    )
    return medians
