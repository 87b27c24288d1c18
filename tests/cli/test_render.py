"""Tables printed by the CLI when its output goes to a file or another program."""

from __future__ import annotations

import pytest

from driftline.cli.options import OutputFormat
from driftline.cli.render import render_rows


def test_piped_table_keeps_every_value_whole(capsys: pytest.CaptureFixture[str]) -> None:
    long_table = "analytics_warehouse.customer_accounts_with_a_long_name"
    rows = [
        {"name": f"sync_{i}", "table": long_table, "last_run": "2026-12-07T01:49:45.593124"}
        for i in range(3)
    ]
    render_rows(rows, OutputFormat.table)
    out = capsys.readouterr().out
    assert long_table in out
    assert "2026-12-07T01:49:45.593124" in out
    assert "…" not in out
    assert out.count(long_table) == 3
