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


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds of this process (all threads) and the result."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - start, time.process_time() - cpu, result


def compare(
    name: str,
    ours: Callable[[], Any],
    baselines: dict[str, Callable[[], Any]],
    *,
    runs: int = 5,
    check: Callable[[Any, Any], None] | None = None,
) -> dict[str, float]:
    """Warm once, then alternate ``ours`` and each baseline ``runs`` times.

    Besides wall time, the CPU time of the process (DuckDB's threads included) is reported:
    on a shared machine it moves much less with the load than wall time does.
    """
    ours()
    for fn in baselines.values():
        fn()
    times: dict[str, list[float]] = {"driftline": [], **{k: [] for k in baselines}}
    cpus: dict[str, list[float]] = {k: [] for k in times}
    last: dict[str, Any] = {}
    for _ in range(runs):
        for key, fn in {"driftline": ours, **baselines}.items():
            t, c, last[key] = timed(fn)
            times[key].append(t)
            cpus[key].append(c)
    medians = {k: statistics.median(v) for k, v in times.items()}
    cpu = {k: statistics.median(v) for k, v in cpus.items()}
    if check is not None:
        for key in baselines:
            check(last["driftline"], last[key])
    best = min((k for k in baselines), key=lambda k: medians[k])
    ratio = medians["driftline"] / medians[best]
    load = os.getloadavg()
    print(
        f"{name}: driftline {medians['driftline']:.3f}s, best hand-written SQL ({best}) "
        f"{medians[best]:.3f}s, ratio {ratio:.2f}x  "
        f"[{', '.join(f'{k} {v:.3f}s' for k, v in medians.items())}; "
        f"CPU {', '.join(f'{k} {v:.2f}s' for k, v in cpu.items())}] "
        f"load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}",
        flush=True,
    )
    return medians
