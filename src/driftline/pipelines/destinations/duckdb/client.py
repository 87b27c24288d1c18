"""A DuckDB database file opened only for the length of a step (others may read it)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from driftline.errors import TerminalError, TransientError
from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.duckdb.config import DuckDBConfig

_file_locks: dict[str, threading.Lock] = {}


def _map(exc: Exception) -> Exception:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, duckdb.IOException) and "lock" in first.lower():
        return TransientError(f"DuckDB destination is busy: {first}")
    return TerminalError(f"DuckDB destination: {first}")


class DuckDBWarehouse:
    def __init__(self, config: DuckDBConfig, capabilities: Capabilities) -> None:
        self.capabilities = capabilities
        self.schema: str | None = config.schema
        directory = os.path.dirname(config.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        # two pipelines into one file in this process take turns
        self._lock = _file_locks.setdefault(os.path.abspath(config.path), threading.Lock())
        self._lock.acquire()
        try:
            self.conn = duckdb.connect(config.path, config={"threads": "1"})
        except duckdb.Error as exc:
            self._lock.release()
            raise _map(exc) from None

    def check(self) -> None:
        self.query("SELECT 1")

    def execute(self, sql: str) -> None:
        try:
            self.conn.execute(sql)
        except duckdb.Error as exc:
            raise _map(exc) from None

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(sql).fetchall()
        except duckdb.Error as exc:
            raise _map(exc) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.conn.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def append(self, table: str, data: pa.Table, json_columns: list[str]) -> None:
        from sqlglot import exp

        def q(name: str) -> str:
            return exp.to_identifier(name, quoted=True).sql("duckdb")

        target = f"{q(self.schema)}.{q(table)}" if self.schema else q(table)
        cols = ", ".join(q(c) for c in data.column_names)
        self.conn.register("_driftline_rows", data)
        try:
            self.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM _driftline_rows")
        finally:
            self.conn.unregister("_driftline_rows")

    def close(self) -> None:
        try:
            with contextlib.suppress(duckdb.Error):
                self.conn.close()
        finally:
            self._lock.release()
