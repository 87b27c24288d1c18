"""`driftline demo` and `driftline serve --demo` as a user runs them."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from driftline.store import DuckDBStore
from tests.conftest import DRIFTLINE, run_cli, start_server

END = "2026-03-31"


def count_events(data_dir: Path) -> tuple[int, int]:
    with DuckDBStore(data_dir) as store:
        events = store.query_rows("SELECT count(*) FROM events")[0][0]
        profiles = store.query_rows("SELECT count(*) FROM profiles")[0][0]
    return events, profiles


def export_lines(data_dir: Path, start: str, end: str) -> list[dict[str, object]]:
    out = run_cli("export", "events", "--from", start, "--to", end, data_dir=data_dir)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


@pytest.mark.e2e
def test_demo_loads_into_a_fresh_data_dir_and_a_rerun_does_not_double(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    args = ("demo", "--events", "4000", "--seed", "5", "--end-date", END)
    out = run_cli(*args, data_dir=data_dir)
    assert "demo data: 4,000 events" in out.stderr
    assert "(2026-01-01 to 2026-03-31)" in out.stderr
    events, profiles = count_events(data_dir)
    assert events == 4000 and profiles > 50
    run_cli(*args, data_dir=data_dir)
    assert count_events(data_dir) == (events, profiles)


@pytest.mark.e2e
def test_demo_goes_through_a_running_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    try:
        out = run_cli("demo", "--events", "3000", "--end-date", END, data_dir=data_dir)
        assert "demo data: 3,000 events" in out.stderr
        exported = export_lines(data_dir, "2026-01-01", END)
        assert len(exported) == 3000
        assert {e["event"] for e in exported} >= {"View Page", "Sign Up", "Log In"}
    finally:
        server.stop()
    assert count_events(data_dir)[0] == 3000


@pytest.mark.e2e
def test_bad_demo_arguments_fail_with_one_line(tmp_path: Path) -> None:
    out = run_cli("demo", "--end-date", "31/03/2026", data_dir=tmp_path / "d", check=False)
    assert out.returncode != 0
    assert "--end-date" in out.stderr and "Traceback" not in out.stderr
    out = run_cli("demo", "--events", "10", "--seed", "-1", data_dir=tmp_path / "d", check=False)
    assert out.returncode != 0
    assert "seed" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.e2e
def test_serve_demo_comes_up_with_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, "--demo", "--demo-events", "2500", timeout=120)
    try:
        today = dt.datetime.now(dt.UTC).date()
        exported = export_lines(
            data_dir, (today - dt.timedelta(days=100)).isoformat(), today.isoformat()
        )
        assert len(exported) == 2500
        assert "demo data: 2,500 events" in server.log.read_text()
    finally:
        server.stop()
    # a restart with --demo does not load a second copy
    server = start_server(data_dir, "--demo", "--demo-events", "2500", timeout=120)
    server.stop()
    assert count_events(data_dir)[0] == 2500


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"events": "many", "seed": 1, "end_date": END}, "events"),
        ({"events": 10, "seed": 1.5, "end_date": END}, "seed"),
        ({"events": 0, "seed": 1, "end_date": END}, "events"),
        ({"events": 10, "seed": 1, "end_date": "yesterday"}, "end_date"),
        ({"events": 10, "seed": 1, "end_date": None}, "end_date"),
    ],
)
def test_demo_operation_rejects_bad_arguments_with_400(
    client: TestClient, admin_headers: dict[str, str], args: dict[str, object], field: str
) -> None:
    response = client.post(
        "/api/v1/_cli/ops/demo.load", json={"project_id": 1, **args}, headers=admin_headers
    )
    assert response.status_code == 400
    assert field in response.text


def test_demo_operation_loads_through_the_api(
    client: TestClient, admin_headers: dict[str, str], store: DuckDBStore
) -> None:
    response = client.post(
        "/api/v1/_cli/ops/demo.load",
        json={"project_id": 1, "events": 1500, "seed": 3, "end_date": END},
        headers=admin_headers,
    )
    assert response.status_code == 200
    summary = response.json()
    assert summary["events"] == 1500 == store.count_events(1)
    assert summary["last_day"] == END
    assert set(summary) >= {"events", "users", "companies", "skus", "first_day", "last_day"}


@pytest.mark.slow
@pytest.mark.e2e
def test_a_million_events_load_from_the_cli(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    out = run_cli("demo", "--events", "1000000", "--end-date", END, data_dir=data_dir)
    assert "demo data: 1,000,000 events" in out.stderr
    with DuckDBStore(data_dir) as store:
        rows = store.query_rows(
            "SELECT count(*), count(DISTINCT insert_id), count(DISTINCT time::DATE) FROM events"
        )
    assert rows == [(1_000_000, 1_000_000, 90)]


@pytest.mark.slow
@pytest.mark.e2e
def test_killed_demo_load_completes_on_rerun_without_doubles(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    args = ["demo", "--events", "600000", "--seed", "9", "--end-date", END]
    run_cli("init", data_dir=data_dir)
    proc = subprocess.Popen(
        [*DRIFTLINE, *args, "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    files = [data_dir / "store.duckdb", data_dir / "store.duckdb.wal"]
    before = sum(f.stat().st_size for f in files if f.exists())
    deadline = time.monotonic() + 120
    # kill once the store starts growing: in the middle of the first batches
    while proc.poll() is None and time.monotonic() < deadline:
        if sum(f.stat().st_size for f in files if f.exists()) > before + 5_000_000:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the load finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with DuckDBStore(data_dir) as store:
        partial = store.count_events(1)
    assert partial < 600_000
    run_cli(*args, data_dir=data_dir)
    with DuckDBStore(data_dir) as store:
        rows = store.query_rows("SELECT count(*), count(DISTINCT insert_id) FROM events")
    assert rows == [(600_000, 600_000)]
