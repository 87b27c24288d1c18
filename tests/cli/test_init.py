"""What `driftline init` tells a user to do next."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunningServer, run_cli


def test_init_says_next_serve_when_no_server_runs(tmp_path: Path) -> None:
    out = run_cli("init", data_dir=tmp_path / "data").stdout
    assert out.strip().splitlines()[-1] == "next: `driftline serve` (add --demo for sample data)"


@pytest.mark.e2e
def test_init_names_the_server_already_running_on_the_data_directory(
    server: RunningServer,
) -> None:
    """With a server running (scripts/start.sh leaves one), it still said "next: `driftline
    serve`", which then refused to start."""
    out = run_cli("init", data_dir=server.data_dir).stdout
    assert out.startswith(f"already initialised {server.data_dir}")
    assert f"a driftline server is already running at {server.url} " in out, out
    assert "`driftline serve`" not in out
