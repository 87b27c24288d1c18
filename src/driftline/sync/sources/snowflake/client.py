"""Snowflake through ``snowflake-connector-python``; Arrow straight from the connector."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import snowflake.connector
from snowflake.connector import errors as sferr
from sqlglot import exp

from driftline.errors import DriftlineError, TerminalError, TransientError
from driftline.sync import urls
from driftline.sync.sources.base import Capabilities, Column, ColumnKind, TableRef, TableSchema
from driftline.sync.sources.snowflake.config import SnowflakeConfig
from driftline.sync.sources.sql import SqlSource, column


def map_error(exc: BaseException, config: SnowflakeConfig) -> DriftlineError:
    """The one place Snowflake connector errors become driftline errors."""
    text = str(getattr(exc, "msg", None) or exc).strip().splitlines()[0]
    message = urls.scrub(f"{config.shown}: {text}", config.secrets())
    if isinstance(exc, sferr.DatabaseError) and getattr(exc, "errno", None) in (
        390100,
        390144,
        250001,
    ):
        return TerminalError(message)  # bad credentials
    if isinstance(
        exc, sferr.OperationalError | sferr.InterfaceError | sferr.ServiceUnavailableError
    ):
        return TransientError(message)
    return TerminalError(message)


class SnowflakeClient:
    def __init__(self, config: SnowflakeConfig) -> None:
        self.config = config
        self._conn: Any = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except snowflake.connector.Error as exc:
            raise map_error(exc, self.config) from None

    def connection(self) -> Any:
        if self._conn is None:
            with self._errors():
                self._conn = snowflake.connector.connect(**self.config.connect_kwargs())
        return self._conn

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self._errors(), self.connection().cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def batches(self, sql: str, columns: list[Column], batch_rows: int) -> Iterator[pa.RecordBatch]:
        with self._errors(), self.connection().cursor() as cur:
            cur.execute(sql)
            for table in cur.fetch_arrow_batches():
                for batch in table.to_batches(batch_rows):
                    yield _normalise(batch, columns)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def _normalise(batch: pa.RecordBatch, columns: list[Column]) -> pa.RecordBatch:
    """Column names as the catalog spells them; zoned timestamps as UTC wall time."""
    arrays = []
    for arr in batch.columns:
        if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
            arr = arr.cast(pa.timestamp(arr.type.unit))
        arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])


class SnowflakeSource(SqlSource):
    system_schemas = ("INFORMATION_SCHEMA",)

    def __init__(self, config: SnowflakeConfig, capabilities: Capabilities) -> None:
        super().__init__(SnowflakeClient(config), description=config.shown)
        self.capabilities = capabilities
        self.default_schema = config.schema

    def tables_sql(self) -> str:
        return self.render(
            exp.select("table_schema", "table_name")
            .from_(exp.table_("tables", db="information_schema"))
            .where(exp.column("table_schema").neq(exp.Literal.string("INFORMATION_SCHEMA")))
            .order_by("table_schema", "table_name")
        )

    def describe(self, table: TableRef) -> TableSchema:
        # unquoted names are stored upper-case in Snowflake
        try:
            return super().describe(table)
        except DriftlineError:
            upper = TableRef(table.name.upper(), table.schema.upper() if table.schema else None)
            if upper == table:
                raise
            return super().describe(upper)

    def column_expr(self, col: Column) -> exp.Expression:
        ref = column(col.name)
        if col.kind is ColumnKind.JSON:
            return exp.func("TO_JSON", ref)
        return ref
