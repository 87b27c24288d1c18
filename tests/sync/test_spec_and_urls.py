"""Sync specs, schedules and warehouse URLs: the rules that need no warehouse."""

from __future__ import annotations

import datetime as dt

import pytest

from driftline.errors import InvalidInput
from driftline.sync import urls
from driftline.sync.sources import capabilities, package_for
from driftline.sync.spec import SyncSpec, every_seconds, next_due

BASE = {"name": "orders", "warehouse": "shop", "table": "public.orders"}


def spec(**kw: object) -> SyncSpec:
    return SyncSpec.model_validate({**BASE, **kw})


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"type": "events", "mode": "full", "event_name": "x", "time_column": "t", "user_id_column": "u"},
         "mode", "not available for events"),
        ({"type": "events", "mode": "append", "event_name": "x", "time_column": "t", "user_id_column": "u"},
         "insert_time_column", "--insert-time-column"),
        ({"type": "events", "mode": "one-time", "time_column": "t", "user_id_column": "u"},
         "event_name", "exactly one of"),
        ({"type": "events", "mode": "one-time", "event_name": "x", "user_id_column": "u"},
         "time_column", "--time-column"),
        ({"type": "events", "mode": "one-time", "event_name": "x", "time_column": "t"},
         "user_id_column", "--user-id-column"),
        ({"type": "user-profiles", "mode": "full"}, "id_column", "--id-column"),
        ({"type": "group-profiles", "mode": "full", "id_column": "id"}, "group_key", "--group-key"),
        ({"type": "lookup-table", "mode": "append", "id_column": "id", "insert_time_column": "t"},
         "mode", "replaced whole"),
        ({"type": "user-profiles", "mode": "full", "id_column": "id", "time_column": "t"},
         "time_column", "only for events"),
        ({"type": "user-profiles", "mode": "full", "id_column": "id", "every": "often"}, "every", "1h"),
        ({"type": "user-profiles", "mode": "one-time", "id_column": "id", "every": "1d"}, "every", "runs once"),
    ],
)  # fmt: skip
def test_bad_specs_name_the_field(fields: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        spec(**fields).check()
    assert err.value.field == field
    assert words in str(err.value)


def test_good_specs_pass() -> None:
    spec(type="events", mode="append", event_name_column="kind", time_column="t", device_id_column="d",
         insert_time_column="t", every="1h").check()  # fmt: skip
    spec(
        type="group-profiles", mode="full", id_column="id", group_key="company_id", every="1w"
    ).check()
    spec(type="lookup-table", mode="one-time", id_column="sku").check()


def test_schedules() -> None:
    assert (every_seconds("1h"), every_seconds("1d"), every_seconds("1w")) == (3600, 86400, 604800)
    now = dt.datetime(2026, 1, 1, 12)
    assert next_due("1h", None, now) == now
    assert next_due("1h", now - dt.timedelta(minutes=30), now) > now
    assert next_due("1d", now - dt.timedelta(days=2), now) < now


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cr3t@db:5432/shop", "postgresql://app:***@db:5432/shop"),
        ("postgresql://app:${PG_PASSWORD}@db/shop", "postgresql://app:${PG_PASSWORD}@db/shop"),
        ("snowflake://u:p%40ss@acct/DB?warehouse=WH&private_key_file_pwd=xyz",
         "snowflake://u:***@acct/DB?warehouse=WH&private_key_file_pwd=***"),
        ("databricks://token:dapi123@host/sql/1.0/x", "databricks://token:***@host/sql/1.0/x"),
        ("duckdb:///data/wh.duckdb", "duckdb:///data/wh.duckdb"),
    ],
)  # fmt: skip
def test_redaction(url: str, shown: str) -> None:
    assert urls.redact(url) == shown


def test_env_references_are_resolved_only_when_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DL_TEST_PW", "p@ss:w/rd%")
    parsed = urls.parse("postgresql://app:${DL_TEST_PW}@db/shop")
    assert parsed.password == "p@ss:w/rd%" and parsed.host == "db"
    monkeypatch.delenv("DL_TEST_PW")
    with pytest.raises(Exception, match="DL_TEST_PW"):
        urls.parse("postgresql://app:${DL_TEST_PW}@db/shop")
    assert urls.scrub("failed for p@ss:w/rd%", ["p@ss:w/rd%"]) == "failed for ***"


def test_schemes_map_to_sources() -> None:
    assert package_for("postgres://x@h/db") == "postgres"
    assert capabilities("redshift://x@h/db").dialect == "redshift"
    assert capabilities("duckdb:///x").arrow_path
    with pytest.raises(InvalidInput, match="unknown scheme"):
        package_for("oracle://x@h/db")


def test_importing_driftline_needs_no_vendor_driver() -> None:
    import subprocess
    import sys

    code = (
        "import sys, driftline.sync.engine, driftline.sync.sources, driftline.cli;"
        "bad = [m for m in ('psycopg', 'pymysql', 'snowflake.connector', 'google.cloud.bigquery',"
        " 'databricks.sql', 'adbc_driver_postgresql') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
