"""What `driftline apply FILE.toml` says about each item: it printed "✓" whether it created,
changed or left the item as it was; only `--format json` told them apart."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import run_cli

PLAN = """
[warehouses.shop]
url = "sqlite:///{db}"

[syncs.orders]
warehouse = "shop"
table = "orders"
type = "events"
mode = "append"
event_name = "Order Placed"
time_column = "created_at"
insert_time_column = "created_at"
user_id_column = "user_id"

[pipelines.lake]
destination = "{lake}"
"""


def test_apply_says_created_updated_or_unchanged_per_item(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli("init", data_dir=data)
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, user_id TEXT, created_at TIMESTAMP)")
    plan = tmp_path / "shop.toml"
    plan.write_text(PLAN.format(db=db, lake=(tmp_path / "lake").as_uri()))

    def lines() -> list[str]:
        return run_cli("apply", str(plan), data_dir=data).stderr.strip().splitlines()

    assert lines() == [
        "warehouses: shop created",
        "syncs: orders created",
        "pipelines: lake created",
    ]
    assert lines() == [
        "warehouses: shop unchanged",
        "syncs: orders unchanged",
        "pipelines: lake unchanged",
    ]
    # a new table starts the sync over; another event name keeps what it loaded
    plan.write_text(plan.read_text().replace('table = "orders"', 'table = "main.orders"'))
    assert lines()[:2] == [
        "warehouses: shop unchanged",
        "syncs: orders updated: its table, type, mode or insert-time column changed, "
        "so it starts over",
    ]
    plan.write_text(
        plan.read_text()
        .replace('"Order Placed"', '"Order"')
        .replace("shop.db", "shop.db?mode=ro")
        .replace((tmp_path / "lake").as_uri(), (tmp_path / "lake2").as_uri())
    )
    assert lines() == [
        "warehouses: shop updated",
        "syncs: orders updated",
        "pipelines: lake replaced: a new destination, which gets an export of its own",
    ]
    # the JSON says the same in `applied`
    out = json.loads(run_cli("apply", str(plan), "--format", "json", data_dir=data).stdout)
    assert {section: [i["applied"] for i in items] for section, items in out.items()} == {
        "warehouses": ["unchanged"],
        "syncs": ["unchanged"],
        "pipelines": ["unchanged"],
    }
