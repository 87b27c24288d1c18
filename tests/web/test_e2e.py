"""End to end in headless Chromium against ``driftline serve --demo`` on a loopback port:
log in, build a funnel and see its chart, create a sync against Postgres (previewed first)
and watch it finish, run a pipeline. Screenshots of each main page land in
``test-artifacts/webui/`` (not committed) for a person to look at."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer, start_server

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT = HERE.parent / "ingest" / "browser" / "node_modules" / "playwright-core"
SHOTS = HERE.parent.parent / "test-artifacts" / "webui"
DATABASE = "webui_e2e"


@pytest.fixture
def orders() -> Iterator[str]:
    """A Postgres table of orders; the URL carries a password (trust auth ignores it) so the
    test can check that no page shows it."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(
            "host=127.0.0.1 user=postgres dbname=postgres", autocommit=True, connect_timeout=3
        )
    except psycopg.OperationalError:
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432")
    admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    admin.execute(f"CREATE DATABASE {DATABASE}")
    with psycopg.connect(
        f"host=127.0.0.1 user=postgres dbname={DATABASE}", autocommit=True
    ) as conn:
        conn.execute(
            "CREATE TABLE orders (id int, user_id text, amount numeric, created_at timestamp)"
        )
        conn.execute(
            "INSERT INTO orders SELECT g, 'user-' || (g % 50), g * 1.5, "
            "timestamp '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 500) g"
        )
    yield f"postgresql://postgres:hunter2-not-shown@127.0.0.1:5432/{DATABASE}"
    admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    admin.close()


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[RunningServer]:
    if not (CHROMIUM.exists() and PLAYWRIGHT.exists() and shutil.which("node")):
        pytest.skip("needs chromium and playwright-core: bash .ci/setup.d/30-browser.sh")
    running = start_server(tmp_path / "srv", "--demo", "--demo-events", "30000", timeout=180)
    yield running
    running.stop()


def _secret(server: RunningServer) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "driftline", "project", "list", "--show-secrets", "--format", "json",
         "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return str(json.loads(out.stdout)[0]["secret"])


def test_the_ui_in_chromium(demo_server: RunningServer, orders: str, tmp_path: Path) -> None:
    secret = _secret(demo_server)
    SHOTS.mkdir(parents=True, exist_ok=True)
    export = tmp_path / "export"
    proc = subprocess.run(
        ["node", str(HERE / "ui.mjs"), demo_server.url, secret, str(SHOTS), export.as_uri()],
        capture_output=True, text=True, timeout=420, env={"PG_URL": orders, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + demo_server.log.read_text()[-3000:]
    seen: dict[str, Any] = json.loads(proc.stdout)

    printed = demo_server.log.read_text()
    assert f"web UI: {demo_server.url}/" in printed
    assert f"one-time login link: {demo_server.url}/login?once=" in printed
    assert secret not in printed
    assert "/login" in seen["loginUrl"]
    assert "not a project secret" in seen["badLogin"]
    assert seen["afterLogin"].endswith("/insights")
    assert seen["cookie"] == [{"httpOnly": True, "sameSite": "Lax"}]
    assert seen["insightsRows"] >= 1
    # the funnel: a sentence with the answer, bars for all users and each plan, a table
    assert "users who did Sign Up" in seen["funnelAnswer"], seen["funnelAnswer"]
    assert "did Purchase within 7 days" in seen["funnelAnswer"]
    assert "range=last_month" in seen["funnelUrl"] and "by=plan" in seen["funnelUrl"]
    plans = {row.split("\t")[0] for row in seen["funnelTable"]}
    assert {"All users", "free", "team"} <= plans, plans
    assert seen["funnelBars"] >= 2 * len(plans)
    assert seen["csvName"].endswith(".csv")
    assert seen["retentionCells"] > 0
    assert seen["propertyRows"] > 0 and seen["profileRows"] > 0 and seen["liveRows"] > 0
    # Postgres: added, tested, previewed, created, run to the end
    assert "added warehouse pg" in seen["warehouseNotice"]
    assert "connected" in seen["warehouseTest"]
    assert "hunter2-not-shown" not in seen["warehousePage"]
    assert secret not in seen["warehousePage"]
    assert "500 rows to read" in seen["preview"], seen["preview"]
    assert seen["previewRows"] == 10
    assert "run finished: succeeded" in seen["syncNotice"], seen["syncNotice"]
    assert any("500" in row and "succeeded" in row for row in seen["syncHistory"]), seen[
        "syncHistory"
    ]
    # the pipeline ran and exported windows
    assert any("run finished" in n for n in seen["pipelineNotice"]), seen["pipelineNotice"]
    windows = [row.split("\t") for row in seen["pipelineWindows"]]
    assert windows and all(w[2] == "ok" and w[3] == w[4] for w in windows), windows
    assert any(export.rglob("*")), "the pipeline wrote no file"
    assert seen["csrfStatus"] == 403
    assert seen["pageErrors"] == []
    assert seen["external"] == [], "every asset must come from driftline itself"
    for name in ("insights", "funnels", "retention", "data-events", "warehouses", "sync-detail",
                 "pipeline-detail"):  # fmt: skip
        assert (SHOTS / f"{name}.png").stat().st_size > 5000
