"""SQLite through the standard library's ``sqlite3``, opened read-only."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from sqlglot import exp

from driftline.errors import DriftlineError, NotFound, TerminalError, TransientError
from driftline.sync.sources.base import Capabilities, Column, TableRef, TableSchema, kind_of
from driftline.sync.sources.sql import SqlSource, batch_from_rows
from driftline.sync.sources.sqlite.config import FileConfig


def map_error(exc: BaseException, config: FileConfig) -> DriftlineError:
    """The one place sqlite3 errors become driftline errors."""
    message = f"{config.shown}: {exc}"
    if "locked" in str(exc) or "busy" in str(exc):
        return TransientError(message)
    return TerminalError(message)


def _md5(text: str | None) -> str | None:
    import hashlib

    return None if text is None else hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _regexp_replace(text: str | None, pattern: str, replacement: str) -> str | None:
    import re

    return None if text is None else re.sub(pattern, replacement, text)


def _add_functions(conn: sqlite3.Connection) -> None:
    """MD5 and REGEXP_REPLACE, which SQLite lacks: Mirror's row checksums use them."""
    conn.create_function("MD5", 1, _md5, deterministic=True)
    conn.create_function("REGEXP_REPLACE", 3, _regexp_replace, deterministic=True)


class SQLiteClient:
    def __init__(self, config: FileConfig) -> None:
        self.config = config
        self._conn: sqlite3.Connection | None = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise map_error(exc, self.config) from None

    def connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.config.kind() != "file":
                raise NotFound(f"{self.config.shown}: database file {self.config.path} not found")
            with self._errors():
                self._conn = sqlite3.connect(
                    f"file:{self.config.path}?mode=ro", uri=True, check_same_thread=False
                )
                self._conn.execute("PRAGMA query_only = 1")
                _add_functions(self._conn)
        return self._conn

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self._errors():
            return self.connection().execute(sql).fetchall()

    def batches(self, sql: str, columns: list[Column], batch_rows: int) -> Iterator[pa.RecordBatch]:
        with self._errors():
            cur = self.connection().execute(sql)
            try:
                while rows := cur.fetchmany(batch_rows):
                    yield batch_from_rows(rows, columns)
            finally:
                cur.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SQLiteSource(SqlSource):
    def __init__(self, config: FileConfig, capabilities: Capabilities) -> None:
        super().__init__(SQLiteClient(config), description=config.shown)
        self.capabilities = capabilities

    def tables_sql(self) -> str:
        return self.render(
            exp.select(exp.Literal.string("main"), "name")
            .from_("sqlite_master")
            .where(exp.column("type").isin("table", "view").and_("name NOT LIKE 'sqlite_%'"))
            .order_by("name")
        )

    def describe(self, table: TableRef) -> TableSchema:
        ident = exp.to_identifier(table.name, quoted=True).sql(dialect="sqlite")
        rows = self.client.rows(f"PRAGMA table_info({ident})")
        if not rows:
            raise NotFound(f"table {table} not found in {self.description}")
        columns = tuple(
            Column(str(r[1]), str(r[2] or "BLOB"), kind_of(str(r[2] or "TEXT"), "sqlite"), not r[3])
            for r in rows
        )
        return TableSchema(TableRef(table.name), columns)

    def _table(self, table: TableRef) -> exp.Table:
        return TableRef(table.name).to_sql()
