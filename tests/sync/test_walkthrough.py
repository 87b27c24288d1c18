"""The README walkthrough, as a user runs it: a PostgreSQL shop's orders as events, users as
profiles, accounts as group profiles and SKUs as a lookup table, then `driftline export`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sync_cli import run_cli

from driftline.store import DuckDBStore

APPLY = """
[warehouses.shop]
url = "postgresql://postgres:${{DL_SHOP_PASSWORD}}@127.0.0.1:5432/{db}"

[syncs.orders]
warehouse = "shop"
table = "public.orders"
type = "events"
mode = "append"
event_name = "Order Placed"
time_column = "created_at"
user_id_column = "user_id"
insert_id_column = "id"
insert_time_column = "updated_at"
every = "1h"

[syncs.users]
warehouse = "shop"
table = "public.users"
type = "user-profiles"
mode = "full"
id_column = "id"
every = "1d"

[syncs.accounts]
warehouse = "shop"
table = "public.accounts"
type = "group-profiles"
mode = "full"
id_column = "id"
group_key = "account_id"

[syncs.skus]
warehouse = "shop"
table = "public.skus"
type = "lookup-table"
mode = "full"
id_column = "sku"
lookup_property = "sku"
"""


@pytest.fixture
def shop(postgres):  # type: ignore[no-untyped-def]
    postgres.execute("DROP TABLE IF EXISTS orders, users, accounts, skus")
    postgres.execute(
        """CREATE TABLE orders (id text PRIMARY KEY, user_id text, sku text, amount numeric(10,2),
           created_at timestamptz, updated_at timestamptz)"""
    )
    postgres.execute(
        """INSERT INTO orders SELECT 'ord-' || i, 'user-' || (i % 4), 'SKU-' || (i % 3), i * 10.5,
           timestamptz '2026-02-01 10:00:00+00' + i * interval '1 hour',
           timestamptz '2026-02-10 00:00:00+00' + i * interval '1 second'
           FROM generate_series(1, 12) i"""
    )
    postgres.execute(
        "CREATE TABLE users (id text PRIMARY KEY, email text, plan text, account_id int)"
    )
    postgres.execute(
        "INSERT INTO users SELECT 'user-' || i, 'u' || i || '@shop.example', "
        "CASE WHEN i % 2 = 0 THEN 'pro' ELSE 'free' END, 100 + i % 2 FROM generate_series(0, 3) i"
    )
    postgres.execute("CREATE TABLE accounts (id int PRIMARY KEY, name text, seats int)")
    postgres.execute("INSERT INTO accounts VALUES (100, 'Acme', 25), (101, 'Globex', 4)")
    postgres.execute("CREATE TABLE skus (sku text PRIMARY KEY, title text, price numeric(8,2))")
    postgres.execute(
        "INSERT INTO skus VALUES ('SKU-0', 'Hat', 20), ('SKU-1', 'Scarf', 35), ('SKU-2', 'Gloves', 15)"
    )
    return postgres


@pytest.mark.e2e
def test_postgres_shop_walkthrough(shop, pg_database: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DL_SHOP_PASSWORD", "not-a-real-password")
    data = tmp_path / "data"
    run_cli("init", data_dir=data)
    plan = tmp_path / "driftline-syncs.toml"
    plan.write_text(APPLY.format(db=pg_database))
    run_cli("apply", str(plan), data_dir=data)
    run_cli("apply", str(plan), data_dir=data)  # applying again changes nothing
    listed = json.loads(run_cli("sync", "list", "--format", "json", data_dir=data).stdout)
    assert [s["name"] for s in listed] == ["accounts", "orders", "skus", "users"]

    preview = json.loads(
        run_cli("sync", "preview", "orders", "--format", "json", data_dir=data).stdout
    )
    assert preview["rows_to_read"] == 12 and preview["sample"][0]["event"] == "Order Placed"

    for name in ("orders", "users", "accounts", "skus"):
        run = json.loads(run_cli("sync", "run", name, "--format", "json", data_dir=data).stdout)
        assert run[0]["status"] == "succeeded", run

    exported = run_cli(
        "export", "events", "--from", "2026-02-01", "--to", "2026-02-02", data_dir=data
    ).stdout
    events = [json.loads(line) for line in exported.splitlines()]
    assert len(events) == 12
    first = events[0]
    assert first["event"] == "Order Placed"
    assert first["properties"]["distinct_id"] == "user-1"
    assert first["properties"]["$insert_id"] == "ord-1"
    assert first["properties"]["amount"] == 10.5 and first["properties"]["sku"] == "SKU-1"

    history = json.loads(
        run_cli("sync", "history", "orders", "--format", "json", data_dir=data).stdout
    )
    assert history[-1]["inserted"] == 12 and history[-1]["rows_read"] == 12

    with DuckDBStore(data) as store:
        profiles = dict(store.query_rows("SELECT distinct_id, properties->>'plan' FROM profiles"))
        assert profiles == {"user-0": "pro", "user-1": "free", "user-2": "pro", "user-3": "free"}
        groups = store.query_rows(
            "SELECT group_key, group_id, properties->>'name' FROM groups ORDER BY group_id"
        )
        assert groups == [("account_id", "100", "Acme"), ("account_id", "101", "Globex")]
        skus = dict(store.query_rows("SELECT row_id, properties->>'title' FROM lookup_rows"))
        assert skus == {"SKU-0": "Hat", "SKU-1": "Scarf", "SKU-2": "Gloves"}
        assert store.query_rows("SELECT property FROM lookup_tables") == [("sku",)]
        # the ${ENV} reference is stored, never the secret
        assert store.query_rows("SELECT url FROM warehouses")[0][0].startswith(
            "postgresql://postgres:${DL_SHOP_PASSWORD}@"
        )
