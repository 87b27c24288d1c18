"""Databricks through ``databricks-sql-connector``; Arrow from ``fetchmany_arrow``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from databricks import sql as dbsql
from sqlglot import exp

from driftline.errors import DriftlineError, TerminalError, TransientError
from driftline.sync import urls
from driftline.sync.sources.base import Capabilities, Column, ColumnKind
from driftline.sync.sources.databricks.config import DatabricksConfig
from driftline.sync.sources.sql import SqlSource, column


def map_error(exc: BaseException, config: DatabricksConfig) -> DriftlineError:
    """The one place Databricks connector errors become driftline errors."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    message = urls.scrub(f"{config.shown}: {text}", config.secrets())
    name = type(exc).__name__
    if name in (
        "RequestError",
        "OperationalError",
        "MaxRetryDurationError",
        "SessionAlreadyClosedError",
    ):
        return TransientError(message)
    return TerminalError(message)


class DatabricksClient:
    def __init__(self, config: DatabricksConfig, connect: Any = None) -> None:
        self.config = config
        self._connect = connect or dbsql.connect
        self._conn: Any = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except dbsql.Error as exc:
            raise map_error(exc, self.config) from None

    def connection(self) -> Any:
        if self._conn is None:
            with self._errors():
                self._conn = self._connect(
                    server_hostname=self.config.host,
                    http_path=self.config.http_path,
                    access_token=self.config.token,
                    catalog=self.config.catalog,
                    schema=self.config.schema,
                    user_agent_entry="driftline",
                )
        return self._conn

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self._errors(), self.connection().cursor() as cur:
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]

    def batches(self, sql: str, columns: list[Column], batch_rows: int) -> Iterator[pa.RecordBatch]:
        with self._errors(), self.connection().cursor() as cur:
            cur.execute(sql)
            while True:
                table = cur.fetchmany_arrow(batch_rows)
                if table.num_rows == 0:
                    return
                for batch in table.to_batches():
                    yield pa.RecordBatch.from_arrays(batch.columns, names=[c.name for c in columns])

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


class DatabricksSource(SqlSource):
    def __init__(
        self, config: DatabricksConfig, capabilities: Capabilities, connect: Any = None
    ) -> None:
        super().__init__(DatabricksClient(config, connect), description=config.shown)
        self.capabilities = capabilities
        self.default_schema = config.schema

    def column_expr(self, col: Column) -> exp.Expression:
        ref = column(col.name)
        if col.kind is ColumnKind.JSON:
            return exp.func("TO_JSON", ref)
        return ref
