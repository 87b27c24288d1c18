"""A warehouse name given twice, or mistyped: the error says what there is and what to do."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def test_adding_a_name_twice_says_how_to_change_its_url(tmp_path: Path) -> None:
    """There is no `warehouse delete`: the message said only "already exists", and a user with
    a mistyped URL had no way on from there."""
    data = tmp_path / "data"
    run_cli("init", data_dir=data)
    run_cli("warehouse", "add", "shop", "sqlite:///old.db", data_dir=data)
    proc = run_cli("warehouse", "add", "shop", "sqlite:///new.db", data_dir=data, check=False)
    assert proc.returncode == 1
    assert "`driftline apply FILE.toml` and a [warehouses.shop] table" in proc.stderr
    plan = tmp_path / "shop.toml"  # doing what it says works
    plan.write_text('[warehouses.shop]\nurl = "sqlite:///new.db"\n')
    run_cli("apply", str(plan), data_dir=data)
    listed = json.loads(run_cli("warehouse", "list", "--format", "json", data_dir=data).stdout)
    assert [(w["name"], w["url"]) for w in listed] == [("shop", "sqlite:///new.db")]


def test_a_mistyped_warehouse_lists_the_ones_there_are(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli("init", data_dir=data)
    run_cli("warehouse", "add", "shop", "sqlite:///shop.db", data_dir=data)
    proc = run_cli(
        "sync", "add", "orders", "--warehouse", "shp", "--table", "orders", "--type", "events",
        "--mode", "mirror", "--event-name", "Order", "--time-column", "t",
        "--user-id-column", "u", data_dir=data, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert 'no warehouse named "shp" in this project (warehouses: shop)' in proc.stderr
