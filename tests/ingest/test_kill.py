"""SIGKILL the server under a steady /import load: every acknowledged event is stored,
exactly once, and resending the batch that was in flight doubles nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from test_sdk_python import credentials

from driftline.store import DuckDBStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LOADER = Path(__file__).parent / "import_load.py"


def _start(data_dir: Path):  # type: ignore[no-untyped-def]
    """``start_server`` of tests/conftest.py (not importable by name beside this conftest)."""
    import importlib.util

    path = Path(__file__).parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("driftline_tests_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.start_server(data_dir)


def test_sigkill_mid_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "srv"
    server = _start(data_dir)
    project = credentials(server.url, data_dir)
    acks = tmp_path / "acks.txt"
    loader_log = tmp_path / "loader.log"
    with open(loader_log, "w") as log:
        loader = subprocess.Popen(
            [sys.executable, str(LOADER), server.url, project["secret"], str(acks)], stderr=log
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # let some batches through, then kill mid-stream
        if acks.exists() and len(acks.read_text().split()) >= 15:
            break
        time.sleep(0.05)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    assert loader.wait(60) == 0, loader_log.read_text()
    acked = sorted(int(n) for n in acks.read_text().split())
    assert len(acked) >= 15
    in_flight = acked[-1] + 1

    server = _start(data_dir)  # restart on the same data directory after the crash
    try:
        # the client retries the batch that got no answer
        rerun = subprocess.run(
            [
                sys.executable,
                str(LOADER),
                server.url,
                project["secret"],
                str(acks),
                str(in_flight),
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert httpx.get(server.url + "/healthz").status_code == 200
    finally:
        server.stop()

    with DuckDBStore(data_dir) as store:
        rows = store.query_rows(
            "SELECT CAST(json_extract(properties, '$.batch') AS INTEGER) AS batch, count(*), "
            "count(DISTINCT insert_id) FROM events WHERE project_id = ? GROUP BY batch",
            [project["id"]],
        )
    per_batch = {b: (n, distinct) for b, n, distinct in rows}
    for n in [*acked, in_flight]:
        assert per_batch.get(n) == (200, 200), f"batch {n}: {per_batch.get(n)}"
    assert all(count == distinct == 200 for count, distinct in per_batch.values())
