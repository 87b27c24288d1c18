"""Benchmark: /track with single events as the browser SDK sends them (form body,
``data=<base64 JSON>``, ``verbose=1&ip=1``), from a second process on loopback.

    python benchmarks/ingest_track.py [--seconds 20] [--connections 32]

Baseline (same run, same client): ``GET /healthz``, the cost of the HTTP stack alone.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).parent))
from ingest_http_load import (
    cpu_seconds,
    driftline_server,
    http_request,
    load_arguments,
    load_average,
    profiled,
    run_load,
)


def bodies(token: str, count: int) -> list[bytes]:
    now = time.time()
    out = []
    for i in range(count):
        event = {
            "event": "Page View",
            "properties": {
                "token": token,
                "time": round(now - 60 + i / 1000, 3),
                "distinct_id": f"$device:dev-{i % 3000}",
                "$device_id": f"dev-{i % 3000}",
                "$insert_id": f"trk{i:012d}",
                "$current_url": f"https://example.com/p/{i % 40}",
                "$browser": "Chrome",
                "mp_lib": "web",
                "$lib_version": "2.83.0",
            },
        }
        data = base64.b64encode(json.dumps([event]).encode()).decode()
        out.append(f"data={quote(data, safe='')}".encode())
    return out


def main() -> None:
    args = load_arguments(__doc__, connections=32)
    print(f"load average before: {load_average()}")
    with driftline_server() as server:
        payloads = bodies(server.token, 100_000)
        form = "application/x-www-form-urlencoded"

        def track(n: int) -> bytes:
            return http_request("POST", "/track/?verbose=1&ip=1", payloads[n % len(payloads)], form)

        def health(n: int) -> bytes:
            return http_request("GET", "/healthz", b"", "text/plain")

        run_load(server.url, track, connections=args.connections, seconds=3)  # warm-up
        cpu0 = cpu_seconds(server.process.pid)
        with profiled(server.process.pid, args.profile):
            result = run_load(server.url, track, connections=args.connections, seconds=args.seconds)
        cpu = cpu_seconds(server.process.pid) - cpu0
        cpu1 = cpu_seconds(server.process.pid)
        baseline = run_load(server.url, health, connections=args.connections, seconds=5)
        base_cpu = cpu_seconds(server.process.pid) - cpu1
    print(f"load average after:  {load_average()}")
    events = result.requests
    print(
        f"server CPU: {cpu:.1f} s over {result.seconds:.1f} s "
        f"({cpu / result.seconds:.2f} cores), {cpu * 1e6 / max(events, 1):.1f} ms per 1000 events"
    )
    print(
        f"/track single events, {args.connections} connections, {result.seconds:.1f} s: "
        f"{result.rate:,.0f} requests/s ({result.statuses}), "
        f"p50 {result.pct(50):.1f} ms, p99 {result.pct(99):.1f} ms"
    )
    print(
        f"baseline GET /healthz: {baseline.rate:,.0f} requests/s, p50 {baseline.pct(50):.1f} ms, "
        f"server CPU {base_cpu * 1e6 / max(baseline.requests, 1):.1f} ms per 1000 requests; "
        f"/track reaches {result.rate / baseline.rate:.2f}x of it"
    )


if __name__ == "__main__":
    main()
