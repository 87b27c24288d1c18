"""Fixtures shared by every test: data directories, an open store, the app in-process, and
the real server in a subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from driftline.config import load_settings
from driftline.model import Project
from driftline.server import create_app
from driftline.store import DuckDBStore, GroupCommitWriter

DRIFTLINE = [sys.executable, "-m", "driftline"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path) -> Iterator[DuckDBStore]:
    s = DuckDBStore(data_dir)
    s.create_project("default")
    yield s
    s.close()


@pytest.fixture
def project(store: DuckDBStore) -> Project:
    return store.get_project(1)


@pytest.fixture
def writer(store: DuckDBStore) -> Iterator[GroupCommitWriter]:
    w = GroupCommitWriter(store)
    yield w
    w.close()


@pytest.fixture
def client(data_dir: Path, store: DuckDBStore) -> Iterator[TestClient]:
    """The app in-process (lifespan run), sharing the ``store`` fixture."""
    app = create_app(load_settings(data_dir=data_dir), store=store)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def admin_headers(data_dir: Path) -> dict[str, str]:
    from driftline.datadir import DataDir

    return {"Authorization": f"Bearer {DataDir(data_dir).admin_token()}"}


def run_cli(
    *args: str, data_dir: Path, check: bool = True, timeout: float = 300, **kw: object
) -> subprocess.CompletedProcess[str]:
    """Run ``driftline ARGS --data-dir DATA_DIR`` as a real subprocess."""
    proc = subprocess.run(
        [*DRIFTLINE, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,  # type: ignore[call-overload]
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"driftline {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(data_dir: Path, *extra: str, timeout: float = 60) -> RunningServer:
    """Start ``driftline serve --port 0`` and wait until it answers /healthz."""
    data_dir.mkdir(parents=True, exist_ok=True)
    info = data_dir / "server.json"
    if info.exists():
        info.unlink()
    log = data_dir.parent / f"serve-{os.getpid()}-{time.monotonic_ns()}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*DRIFTLINE, "serve", "--port", "0", "--data-dir", str(data_dir), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"driftline serve exited {proc.returncode}:\n{log.read_text()}")
        if info.exists():
            try:
                url = json.loads(info.read_text())["url"]
                httpx.get(url + "/healthz", timeout=2).raise_for_status()
                return RunningServer(url, proc, data_dir, log)
            except (httpx.HTTPError, ValueError, KeyError):
                pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"driftline serve did not come up in {timeout}s:\n{log.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """A real ``driftline serve`` on a free loopback port, on a fresh data directory."""
    running = start_server(tmp_path / "srv")
    yield running
    running.stop()
