"""MySQL / MariaDB through PyMySQL (pure Python): catalog and paged unbuffered reads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pymysql
import pymysql.cursors
from sqlglot import exp

from driftline.errors import DriftlineError, TerminalError, TransientError
from driftline.sync import urls
from driftline.sync.sources.base import Capabilities, Column, ColumnKind, TableRef
from driftline.sync.sources.mysql.config import MySQLConfig
from driftline.sync.sources.sql import SqlSource, batch_from_rows, column

# https://mariadb.com/kb/en/mariadb-error-codes/ : access denied, unknown db/table/column, syntax
_TERMINAL_CODES = {1044, 1045, 1049, 1054, 1064, 1142, 1143, 1146, 1698}


def map_error(exc: BaseException, config: MySQLConfig) -> DriftlineError:
    """The one place PyMySQL errors become driftline errors (secrets scrubbed)."""
    args = getattr(exc, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    text = str(args[1]) if len(args) > 1 else str(exc)
    message = urls.scrub(f"{config.shown}: {text}", config.secrets())
    if code in _TERMINAL_CODES or isinstance(exc, pymysql.ProgrammingError):
        return TerminalError(message)
    if isinstance(exc, pymysql.OperationalError | pymysql.InterfaceError):
        return TransientError(message)
    return TerminalError(message)


class MySQLClient:
    def __init__(self, config: MySQLConfig) -> None:
        self.config = config
        self._conn: Any = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except pymysql.Error as exc:
            self.close()
            raise map_error(exc, self.config) from None

    def connection(self) -> Any:
        if self._conn is None:
            with self._errors():
                self._conn = pymysql.connect(
                    host=self.config.host,
                    port=self.config.port,
                    user=self.config.user,
                    password=self.config.password or "",
                    database=self.config.database,
                    connect_timeout=10,
                    autocommit=True,
                    init_command="SET time_zone = '+00:00'",
                )
        return self._conn

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        conn = self.connection()
        with self._errors(), conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def batches(self, sql: str, columns: list[Column], batch_rows: int) -> Iterator[pa.RecordBatch]:
        conn = self.connection()
        with self._errors(), conn.cursor(pymysql.cursors.SSCursor) as cur:
            cur.execute(sql)
            while rows := cur.fetchmany(batch_rows):
                yield batch_from_rows(list(rows), columns)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


class MySQLSource(SqlSource):
    system_schemas = ("information_schema", "mysql", "performance_schema", "sys")

    def __init__(self, config: MySQLConfig, capabilities: Capabilities) -> None:
        super().__init__(MySQLClient(config), description=config.shown)
        self.capabilities = capabilities
        self.config = config

    def tables_sql(self) -> str:
        return self.render(
            exp.select("table_schema", "table_name")
            .from_(exp.table_("tables", db="information_schema"))
            .where(exp.column("table_schema").eq(exp.func("database")))
            .order_by("table_name")
        )

    def current_schema_condition(self) -> exp.Expression:
        return exp.column("table_schema").eq(exp.func("database"))

    def columns_sql(self, table: TableRef) -> str:
        # column_type keeps tinyint(1), MySQL's boolean
        sql = super().columns_sql(table)
        return sql.replace("SELECT column_name, data_type,", "SELECT column_name, column_type,", 1)

    def column_expr(self, col: Column) -> exp.Expression:
        ref = column(col.name)
        if col.kind in (ColumnKind.JSON, ColumnKind.OTHER):
            return exp.cast(ref, exp.DataType.build("char", dialect="mysql"), dialect="mysql")
        return ref
