"""Fixtures for the sync tests: real warehouses (PostgreSQL, MariaDB, SQLite and DuckDB
files, Snowflake through fakesnow's server) and the CLI in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sync_warehouses import DuckDBFile, MariaDB, Postgres, Snowflake, SQLite

PG_DB = f"dl_sync_test_{os.getpid()}"
MY_DB = f"dl_sync_test_{os.getpid()}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    yield PG_DB
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


@pytest.fixture
def postgres(pg_database: str) -> Iterator[Postgres]:
    wh = Postgres(pg_database)
    yield wh
    wh.close()


@pytest.fixture(scope="session")
def my_database() -> Iterator[str]:
    yield MY_DB
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{MY_DB}`")
    conn.close()


@pytest.fixture
def mariadb(my_database: str) -> Iterator[MariaDB]:
    wh = MariaDB(my_database)
    yield wh
    wh.close()


@pytest.fixture
def sqlite_wh(tmp_path: Path) -> SQLite:
    return SQLite(tmp_path / "warehouse.sqlite")


@pytest.fixture
def duckdb_wh(tmp_path: Path) -> DuckDBFile:
    return DuckDBFile(tmp_path / "warehouse.duckdb")


@pytest.fixture(scope="session")
def fakesnow_server() -> Iterator[dict[str, object]]:
    fakesnow = pytest.importorskip("fakesnow")
    with fakesnow.server() as kwargs:
        yield kwargs


@pytest.fixture
def snowflake_wh(fakesnow_server: dict[str, object]) -> Iterator[Snowflake]:
    wh = Snowflake(dict(fakesnow_server), "DL_SYNC")
    yield wh
    wh.close()
