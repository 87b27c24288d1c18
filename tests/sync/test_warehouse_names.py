"""A warehouse name given twice, or mistyped: the error says what there is and what to do."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def test_adding_a_name_twice_says_how_to_change_its_url(tmp_path: Path) -> None:
    """The message said only "already exists"; then it sent the user to `driftline apply`
    with a [warehouses.NAME] table, the only way there was. Now it names `--replace` and
    `warehouse delete`, and doing what it says works."""
    data = tmp_path / "data"
    run_cli("init", data_dir=data)
    run_cli("warehouse", "add", "shop", "sqlite:///old.db", "--no-test", data_dir=data)
    proc = run_cli(
        "warehouse", "add", "shop", "sqlite:///new.db", "--no-test", data_dir=data, check=False
    )
    assert proc.returncode == 1
    assert "`driftline warehouse add shop URL --replace`" in proc.stderr
    assert "`driftline warehouse delete shop`" in proc.stderr
    run_cli("warehouse", "add", "shop", "sqlite:///new.db", "--no-test", "--replace", data_dir=data)
    listed = json.loads(run_cli("warehouse", "list", "--format", "json", data_dir=data).stdout)
    assert [(w["name"], w["url"]) for w in listed] == [("shop", "sqlite:///new.db")]
    run_cli("warehouse", "delete", "shop", data_dir=data)
    assert json.loads(run_cli("warehouse", "list", "--format", "json", data_dir=data).stdout) == []


def test_a_mistyped_warehouse_lists_the_ones_there_are(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli("init", data_dir=data)
    run_cli("warehouse", "add", "shop", "sqlite:///shop.db", "--no-test", data_dir=data)
    proc = run_cli(
        "sync", "add", "orders", "--warehouse", "shp", "--table", "orders", "--type", "events",
        "--mode", "mirror", "--event-name", "Order", "--time-column", "t",
        "--user-id-column", "u", data_dir=data, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert 'no warehouse named "shp" in this project (warehouses: shop)' in proc.stderr
