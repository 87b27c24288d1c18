"""Benchmark: /import with 2000-event JSON batches, from a second process on loopback.

    python benchmarks/ingest_import.py [--seconds 20] [--connections 8]

Baseline (same run): the same batches validated and committed in-process, without HTTP
(``normalize_records`` + ``AppendEvents`` through the group-commit writer), i.e. what the
HTTP layer costs on top of the store.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

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

BATCH = 2000


def template(now: float) -> bytes:
    events = [
        {
            "event": ["Page View", "Signup", "Purchase", "Login"][i % 4],
            "properties": {
                "time": round(now - 3600 + i / 1000, 3),
                "distinct_id": f"user-{i % 500}",
                "$insert_id": f"@B@-{i}",
                "plan": ["free", "pro", "team"][i % 3],
                "amount": i % 97,
                "$current_url": f"https://example.com/p/{i % 40}",
                "mp_lib": "python",
            },
        }
        for i in range(BATCH)
    ]
    return json.dumps(events, separators=(",", ":")).encode()


def in_process_baseline(body: bytes, batches: int) -> float:
    from driftline.ingest.normalize import normalize_records
    from driftline.store import AppendEvents, DuckDBStore, GroupCommitWriter

    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp))
        store.create_project("bench")
        writer = GroupCommitWriter(store)
        started = time.perf_counter()
        for n in range(batches):
            docs = json.loads(body.replace(b"@B@", str(n).encode()))
            raw = pa.table(
                {
                    "idx": pa.array(range(len(docs)), pa.int64()),
                    "rec": pa.array([json.dumps(d) for d in docs]),
                }
            )
            normalized = normalize_records(raw, project_id=1, origin="import")
            writer.write(AppendEvents(normalized.events))
        elapsed = time.perf_counter() - started
        writer.close()
        store.close()
    return batches * BATCH / elapsed


def main() -> None:
    args = load_arguments(__doc__, connections=8)
    body = template(time.time())
    print(f"load average before: {load_average()}")
    with driftline_server() as server:
        auth = "Basic " + base64.b64encode(f"{server.secret}:".encode()).decode()

        def request(n: int) -> bytes:
            return http_request(
                "POST",
                "/import?strict=1",
                body.replace(b"@B@", str(n).encode()),
                "application/json",
                {"Authorization": auth},
            )

        run_load(server.url, request, connections=args.connections, seconds=3)  # warm-up
        cpu0 = cpu_seconds(server.process.pid)
        with profiled(server.process.pid, args.profile):
            result = run_load(
                server.url, request, connections=args.connections, seconds=args.seconds
            )
        cpu = cpu_seconds(server.process.pid) - cpu0
    print(f"load average after:  {load_average()}")
    events = result.requests * BATCH
    print(
        f"server CPU: {cpu:.1f} s over {result.seconds:.1f} s "
        f"({cpu / result.seconds:.2f} cores), {cpu * 1e6 / max(events, 1):.1f} ms per 1000 events"
    )
    events_per_s = result.rate * BATCH
    print(
        f"/import {BATCH}-event batches, {args.connections} connections, {result.seconds:.1f} s: "
        f"{result.requests} batches OK ({result.statuses}), {events_per_s:,.0f} events/s, "
        f"p50 {result.pct(50):.0f} ms, p99 {result.pct(99):.0f} ms"
    )
    baseline = in_process_baseline(body, 30)
    print(
        f"baseline in-process normalize+commit: {baseline:,.0f} events/s; "
        f"HTTP /import reaches {events_per_s / baseline:.2f}x of it"
    )


if __name__ == "__main__":
    main()
