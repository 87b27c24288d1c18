"""A small HTTP/1.1 load generator for the ingestion benchmarks, and the server they load.

``run_load`` opens ``connections`` keep-alive connections (asyncio streams, no HTTP
library in the way) and sends requests for ``seconds``; each request's latency is recorded.
The server is a real ``driftline serve`` in its own process on a free loopback port, so the
load comes from a second process, as a real client's would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np


@dataclass
class LoadResult:
    requests: int
    failures: int
    seconds: float
    latencies_ms: np.ndarray
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if len(self.latencies_ms) else 0.0


async def _connection(
    host: str,
    port: int,
    make_request: Callable[[int], bytes],
    stop_at: float,
    counter: list[int],
    latencies: list[float],
    statuses: dict[int, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            counter[0] += 1
            request = make_request(counter[0])
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            status = int(status_line.split()[1])
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def load_arguments(doc: str | None, *, connections: int) -> argparse.Namespace:
    """The command line the HTTP load benchmarks share."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--connections", type=int, default=connections)
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="Record the server with py-spy (collapsed stacks) into this file.",
    )
    return parser.parse_args()


def run_load(
    url: str, make_request: Callable[[int], bytes], *, connections: int, seconds: float
) -> LoadResult:
    """Send requests built by ``make_request(n)`` over ``connections`` for ``seconds``."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = [0]

    async def main() -> float:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(
            *(
                _connection(host, port, make_request, stop_at, counter, latencies, statuses)
                for _ in range(connections)
            )
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    ok = statuses.get(200, 0)
    return LoadResult(ok, len(latencies) - ok, elapsed, np.array(latencies), statuses)


def http_request(
    method: str, path: str, body: bytes, content_type: str, extra: dict[str, str] | None = None
) -> bytes:
    headers = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in (extra or {}).items()),
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


@dataclass
class Server:
    url: str
    token: str
    secret: str
    process: subprocess.Popen[bytes]
    data_dir: Path

    def stop(self) -> None:
        """Stop the server (it commits and checkpoints first); its data directory stays."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


@contextmanager
def driftline_server() -> Any:
    """``driftline serve`` on a fresh data directory and a free loopback port."""
    tmp = Path(tempfile.mkdtemp(prefix="driftline-bench-"))
    data_dir = tmp / "data"
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftline", "serve", "--port", "0", "--data-dir", str(data_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"DRIFTLINE_LOG_LEVEL": "warning", **os.environ},
    )
    try:
        info = data_dir / "server.json"
        deadline = time.monotonic() + 60
        while not info.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / "serve.log").read_text())
            time.sleep(0.1)
        url = json.loads(info.read_text())["url"]
        admin = (data_dir / "admin.token").read_text().strip()
        project = httpx.get(
            f"{url}/api/v1/projects?show_secrets=true",
            headers={"Authorization": f"Bearer {admin}"},
        ).json()[0]
        yield Server(url, project["token"], project["secret"], proc, data_dir)
    finally:
        Server("", "", "", proc, data_dir).stop()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def profiled(pid: int, svg: str | None) -> Any:
    """Sample ``pid`` with py-spy (all threads, native frames off) while the block runs."""
    if not svg:
        yield
        return
    spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "-o", svg, "-r", "200", "-f", "raw", "--gil"]
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (nproc {os.cpu_count()})"
