"""Benchmark: tracker POSTs of 10-event batches through a real `driftline serve`.

    python benchmarks/snowplow_collector.py [--seconds 20] [--connections 32]

Starts `driftline serve` on a free loopback port with a fresh data directory, then a lean
asyncio HTTP/1.1 client keeps ``--connections`` keep-alive connections busy posting
``payload_data`` bodies of 10 distinct events each (the JavaScript tracker's shape: page
views, structured events, link clicks with a web_page context). A 200 arrives only after the
events are enriched and committed, so events/s = 10 × answered requests / seconds.
Baseline in the same run: the same client on `GET /health` (the HTTP ceiling of this
machine with this client).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from snowplow_data import post_body, tracker_events

PYTHON = [sys.executable, "-m", "driftline"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server and its collector workers so far (Linux /proc)."""
    from snowplow_collector_wrk import cpu_seconds as tree_cpu_seconds

    return tree_cpu_seconds(pid)


def start(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    subprocess.run([*PYTHON, "init", "--data-dir", str(data_dir)], check=True, capture_output=True)
    proc = subprocess.Popen(
        [*PYTHON, "serve", "--port", "0", "--data-dir", str(data_dir), "--log-level", "warning"]
        if False else [*PYTHON, "serve", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    info = data_dir / "server.json"
    for _ in range(300):
        if info.exists():
            try:
                return proc, json.loads(info.read_text())["url"]
            except (ValueError, KeyError):
                pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start")


async def load(
    url: str, requests: list[bytes], seconds: float, connections: int
) -> tuple[int, int]:
    host, port = url.removeprefix("http://").split(":")
    done = errors = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.perf_counter() < deadline:
            writer.write(requests[next(counter) % len(requests)])
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if b" 200 " in status_line:
                done += 1
            else:
                errors += 1
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return done, errors


def request_bytes(path: str, body: bytes | None) -> bytes:
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    events = tracker_events(30)
    bodies = []
    for _ in range(4000):  # distinct event ids: nothing is deduplicated away
        batch = [dict(e, eid=str(uuid.uuid4())) for e in events[:10]]
        bodies.append(request_bytes("/com.snowplowanalytics.snowplow/tp2", post_body(batch)))
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start(Path(tmp) / "data")
        try:
            health = [request_bytes("/health", None)]
            ok, _ = asyncio.run(load(url, health, min(args.seconds, 5), args.connections))
            base = ok / min(args.seconds, 5)
            print(f"baseline GET /health: {base:,.0f} requests/s", flush=True)
            load0 = os.getloadavg()[0]
            cpu0 = cpu_seconds(proc.pid)
            t0 = time.perf_counter()
            ok, errors = asyncio.run(load(url, bodies, args.seconds, args.connections))
            wall = time.perf_counter() - t0
            cpu = cpu_seconds(proc.pid) - cpu0
            rate = ok * 10 / wall
            print(
                f"POST tp2 x10: {ok:,} requests ({errors} not 200) in {wall:.1f}s = {rate:,.0f} events/s "
                f"committed ({ok / wall:,.0f} requests/s; {ok / wall / base:.2f} of the /health ceiling)\n"
                f"server CPU {cpu:.1f}s = {ok * 10 / cpu:,.0f} events per server CPU-second; "
                f"load average {load0:.1f} -> {os.getloadavg()[0]:.1f}"
            )
        finally:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    main()
