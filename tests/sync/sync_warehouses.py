"""Test warehouses: make tables in real PostgreSQL, MariaDB, SQLite, DuckDB and fakesnow.

Each :class:`Warehouse` creates tables from a small portable description (column name →
logical type) and inserts rows with its own driver, so the contract suite can state its
cases once for every source.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

Columns = Sequence[tuple[str, str]]  # (name, logical type: text int float bool ts json)


class Warehouse:
    url: str
    schema: str | None = None
    types: ClassVar[dict[str, str]] = {}
    quote = '"'
    param = "%s"

    def q(self, name: str) -> str:
        return f"{self.quote}{name}{self.quote}"

    def table_name(self, name: str) -> str:
        return f"{self.q(self.schema)}.{self.q(name)}" if self.schema else self.q(name)

    def ref(self, name: str) -> str:
        """How a sync's --table names it."""
        return f"{self.schema}.{name}" if self.schema else name

    def execute(self, sql: str, rows: Sequence[Sequence[Any]] | None = None) -> None:
        raise NotImplementedError

    def create(self, name: str, columns: Columns, rows: Sequence[Sequence[Any]] = ()) -> None:
        self.execute(f"DROP TABLE IF EXISTS {self.table_name(name)}")
        cols = ", ".join(f"{self.q(c)} {self.types[t]}" for c, t in columns)
        self.execute(f"CREATE TABLE {self.table_name(name)} ({cols})")
        self._columns = {name: [c for c, _ in columns]}
        if rows:
            self.insert(name, [c for c, _ in columns], rows)

    def insert(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join([self.param] * len(columns))
        cols = ", ".join(self.q(c) for c in columns)
        self.execute(
            f"INSERT INTO {self.table_name(name)} ({cols}) VALUES ({marks})",
            [tuple(self.value(v) for v in row) for row in rows],
        )

    def value(self, v: Any) -> Any:
        return json.dumps(v) if isinstance(v, dict) else v

    def close(self) -> None:
        pass


class Postgres(Warehouse):
    types: ClassVar[dict[str, str]] = {"text": "text", "int": "bigint", "float": "double precision", "bool": "boolean",
             "ts": "timestamp", "tstz": "timestamptz", "json": "jsonb", "date": "date"}  # fmt: skip

    def __init__(self, database: str, scheme: str = "postgresql") -> None:
        import psycopg

        admin = psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True)
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            admin.execute(f'CREATE DATABASE "{database}"')
        admin.close()
        self.conn = psycopg.connect(
            f"host=127.0.0.1 user=postgres dbname={database}", autocommit=True
        )
        self.conn.execute("SET TimeZone = 'UTC'")
        self.schema = "public"
        port = "5432"
        self.url = f"{scheme}://postgres@127.0.0.1:{port}/{database}"

    def execute(self, sql: str, rows: Sequence[Sequence[Any]] | None = None) -> None:
        with self.conn.cursor() as cur:
            if rows is None:
                cur.execute(sql)
            else:
                cur.executemany(sql, rows)

    def close(self) -> None:
        self.conn.close()


class MariaDB(Warehouse):
    quote = "`"
    types: ClassVar[dict[str, str]] = {"text": "varchar(255)", "int": "bigint", "float": "double", "bool": "tinyint(1)",
             "ts": "datetime(6)", "tstz": "datetime(6)", "json": "json", "date": "date"}  # fmt: skip

    def __init__(self, database: str) -> None:
        import pymysql

        admin = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
        admin.close()
        self.conn = pymysql.connect(
            host="127.0.0.1", user="root", password="", database=database, autocommit=True,
            init_command="SET time_zone = '+00:00'",
        )  # fmt: skip
        self.url = f"mysql://root@127.0.0.1:3306/{database}"

    def execute(self, sql: str, rows: Sequence[Sequence[Any]] | None = None) -> None:
        with self.conn.cursor() as cur:
            if rows is None:
                cur.execute(sql)
            else:
                cur.executemany(sql, rows)

    def close(self) -> None:
        self.conn.close()


class SQLite(Warehouse):
    param = "?"
    types: ClassVar[dict[str, str]] = {"text": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "BOOLEAN",
             "ts": "TIMESTAMP", "tstz": "TIMESTAMP", "json": "JSON", "date": "DATE"}  # fmt: skip

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"  # absolute path: sqlite:////abs
        sqlite3.connect(path).close()  # the file exists, as a user's does when it is added

    def execute(self, sql: str, rows: Sequence[Sequence[Any]] | None = None) -> None:
        with contextlib.closing(sqlite3.connect(self.path)) as conn:
            if rows is None:
                conn.execute(sql)
            else:
                conn.executemany(sql, rows)
            conn.commit()

    def value(self, v: Any) -> Any:
        if isinstance(v, dt.datetime):
            return v.isoformat(sep=" ")
        return super().value(v)


class DuckDBFile(Warehouse):
    param = "?"
    types: ClassVar[dict[str, str]] = {"text": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
             "ts": "TIMESTAMP", "tstz": "TIMESTAMPTZ", "json": "JSON", "date": "DATE"}  # fmt: skip

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"duckdb:///{path}"
        import duckdb

        duckdb.connect(str(path)).close()  # the file exists, as a user's does when it is added

    def execute(self, sql: str, rows: Sequence[Sequence[Any]] | None = None) -> None:
        import duckdb

        with duckdb.connect(str(self.path)) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            if rows is None:
                conn.execute(sql)
            else:
                conn.executemany(sql, rows)


class Snowflake(Warehouse):
    types: ClassVar[dict[str, str]] = {"text": "VARCHAR", "int": "NUMBER(38,0)", "float": "FLOAT", "bool": "BOOLEAN",
             "ts": "TIMESTAMP_NTZ", "tstz": "TIMESTAMP_NTZ", "json": "VARIANT", "date": "DATE"}  # fmt: skip

    def __init__(self, kwargs: dict[str, Any], database: str) -> None:
        import snowflake.connector

        self.conn = snowflake.connector.connect(**kwargs)
        self.conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {database}")
        self.conn.cursor().execute(f"CREATE SCHEMA IF NOT EXISTS {database}.PUBLIC")
        self.conn.cursor().execute(f"USE SCHEMA {database}.PUBLIC")
        self.url = (
            f"snowflake://{kwargs['user']}:{kwargs['password']}@{kwargs['account']}/{database}/PUBLIC"
            f"?host={kwargs['host']}&port={kwargs['port']}&protocol={kwargs['protocol']}"
        )

    def execute(self, sql: str, rows: Sequence[Sequence[Any]] | None = None) -> None:
        cur = self.conn.cursor()
        if rows is None:
            cur.execute(sql)
        else:
            for row in rows:
                cur.execute(sql, row)

    def insert(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        # VARIANT values go in through PARSE_JSON in a SELECT
        kinds = getattr(self, "_kinds", {})
        exprs = ", ".join("PARSE_JSON(%s)" if kinds.get(c) == "json" else "%s" for c in columns)
        cols = ", ".join(self.q(c) for c in columns)
        self.execute(
            f"INSERT INTO {self.table_name(name)} ({cols}) SELECT {exprs}",
            [tuple(self.value(v) for v in row) for row in rows],
        )

    def create(self, name: str, columns: Columns, rows: Sequence[Sequence[Any]] = ()) -> None:
        self._kinds = dict(columns)
        super().create(name, columns, rows)

    def value(self, v: Any) -> Any:
        if isinstance(v, dt.datetime):
            return v.isoformat(sep=" ")
        return super().value(v)

    def close(self) -> None:
        self.conn.close()
