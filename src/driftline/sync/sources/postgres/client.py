"""PostgreSQL: catalog queries through psycopg; rows through ADBC's PostgreSQL driver, which
streams ``COPY ... TO STDOUT (FORMAT binary)`` into Arrow record batches in C, without the
GIL (no Python object per row or per value). Without ADBC installed, rows come as
``COPY ... (FORMAT csv)`` parsed by pyarrow's CSV reader."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import errors as pgerr
from sqlglot import exp

from driftline.errors import DriftlineError, TerminalError, TransientError
from driftline.sync import urls
from driftline.sync.sources.base import Capabilities, Column, ColumnKind, ReadRequest, TableSchema
from driftline.sync.sources.postgres.config import PostgresConfig
from driftline.sync.sources.sql import SqlSource, column

#: driver errors where a retry cannot help
_TERMINAL = (
    pgerr.InvalidPassword,
    pgerr.InvalidAuthorizationSpecification,
    pgerr.InsufficientPrivilege,
    pgerr.UndefinedTable,
    pgerr.UndefinedColumn,
    pgerr.InvalidSchemaName,
    pgerr.InvalidCatalogName,
    pgerr.SyntaxError,
    pgerr.DataException,
)
_TRANSIENT = (
    pgerr.SerializationFailure,
    pgerr.DeadlockDetected,
    pgerr.AdminShutdown,
    pgerr.CannotConnectNow,
    pgerr.QueryCanceled,
    pgerr.TooManyConnections,
)


def map_error(exc: BaseException, config: PostgresConfig) -> DriftlineError:
    """The one place PostgreSQL driver errors (psycopg's and ADBC's) become driftline errors,
    secrets scrubbed."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    message = urls.scrub(f"{config.shown}: {first}", config.secrets())
    if not isinstance(exc, psycopg.Error):  # ADBC: SQLSTATE tells the kind
        state = str(getattr(exc, "sqlstate", "") or "")
        if state[:2] in ("08", "53", "57", "40") or "connect" in first.lower():
            return TransientError(message)
        return TerminalError(message)
    if isinstance(exc, _TERMINAL):
        return TerminalError(message)
    if isinstance(exc, (*_TRANSIENT, psycopg.OperationalError)):
        text = first.lower()
        if "password authentication failed" in text or "does not exist" in text:
            return TerminalError(message)
        return TransientError(message)
    return TerminalError(message)


class PostgresClient:
    def __init__(self, config: PostgresConfig) -> None:
        self.config = config
        self._conn: psycopg.Connection[Any] | None = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            self._reset()
            raise map_error(exc, self.config) from None

    def _reset(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            with self._errors():
                self._conn = psycopg.connect(
                    **self.config.conninfo(), autocommit=True, options="-c TimeZone=UTC"
                )
        return self._conn

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        conn = self.connection()
        with self._errors(), conn.cursor() as cur:
            cur.execute(sql)  # built by sqlglot; no user text pasted in
            return cur.fetchall()

    def batches(self, sql: str, columns: list[Column], batch_rows: int) -> Iterator[pa.RecordBatch]:
        try:
            import adbc_driver_postgresql.dbapi as adbc
        except ImportError:
            yield from self._copy_csv(sql, columns, batch_rows)
            return
        yield from self._adbc(adbc, sql, columns, batch_rows)

    def _adbc(
        self, adbc: Any, sql: str, columns: list[Column], batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        from adbc_driver_manager import Error as AdbcError

        names = [c.name for c in columns]
        try:
            with adbc.connect(self.config.uri()) as conn, conn.cursor() as cur:
                cur.execute(sql)
                for batch in cur.fetch_record_batch():
                    plain = pa.RecordBatch.from_arrays(batch.columns, names=names)
                    yield from _split(plain, batch_rows)
        except AdbcError as exc:
            raise map_error(exc, self.config) from None

    def _copy_csv(
        self, sql: str, columns: list[Column], batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        conn = self.connection()
        copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"
        types = {c.name: _arrow_type(c.kind) for c in columns}
        with self._errors(), conn.cursor() as cur, cur.copy(copy_sql) as copy:  # type: ignore[arg-type]
            reader = pacsv.open_csv(
                _CopyStream(copy),
                read_options=pacsv.ReadOptions(
                    column_names=[c.name for c in columns], block_size=8 << 20
                ),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    true_values=["t"],
                    false_values=["f"],
                ),
            )
            try:
                for batch in reader:
                    yield from _split(batch, batch_rows)
            except pa.ArrowInvalid as exc:
                raise TerminalError(f"{self.config.shown}: could not parse a row: {exc}") from None

    def close(self) -> None:
        self._reset()


class _CopyStream(io.RawIOBase):
    """A file over psycopg's COPY chunks, for pyarrow's streaming CSV reader."""

    def __init__(self, copy: Any) -> None:
        self._chunks = iter(copy)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join([bytes(self._pending), *map(bytes, self._chunks)])
        out = bytearray()
        while len(out) < size:
            if not self._pending:
                try:
                    self._pending = memoryview(next(self._chunks))
                except StopIteration:
                    break
            take = self._pending[: size - len(out)]
            out += take
            self._pending = self._pending[len(take) :]
        return bytes(out)


def _split(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    for offset in range(0, batch.num_rows, rows):
        yield batch.slice(offset, rows)


def _arrow_type(kind: ColumnKind) -> pa.DataType:
    return {
        ColumnKind.INTEGER: pa.int64(),
        ColumnKind.FLOAT: pa.float64(),
        ColumnKind.DECIMAL: pa.float64(),
        ColumnKind.BOOLEAN: pa.bool_(),
        ColumnKind.TIMESTAMP: pa.timestamp("us"),
        ColumnKind.DATE: pa.date32(),
    }.get(kind, pa.string())


class PostgresSource(SqlSource):
    def __init__(self, config: PostgresConfig, capabilities: Capabilities) -> None:
        super().__init__(PostgresClient(config), description=config.shown)
        self.capabilities = capabilities
        self.config = config
        self.default_schema = config.schema

    def column_expr(self, col: Column) -> exp.Expression:
        """Timestamps with a zone arrive as UTC wall time; everything pyarrow cannot type
        (json, arrays, numeric with huge scale...) as its text form."""
        ref = column(col.name)
        if col.kind is ColumnKind.TIMESTAMP and _zoned(col.type_name):
            return exp.AtTimeZone(this=ref, zone=exp.Literal.string("UTC"))
        if col.kind in (ColumnKind.JSON, ColumnKind.OTHER, ColumnKind.BINARY):
            return exp.cast(ref, exp.DataType.build("text"))
        if col.kind is ColumnKind.DECIMAL:  # numeric travels as text otherwise
            return exp.cast(ref, exp.DataType.build("double precision", dialect="postgres"))
        if col.kind is ColumnKind.STRING and col.type_name.lower() not in (
            "text",
            "character varying",
        ):
            return exp.cast(ref, exp.DataType.build("text"))  # char(n), name, uuid, citext...
        return ref

    def row_checksum(self, table: TableSchema) -> exp.Expression:
        """Mirror's checksum: the types' own hash functions (see
        :func:`~driftline.sync.sources.checksums.hashed_row_checksum`)."""
        from driftline.sync.sources.checksums import hashed_row_checksum

        return hashed_row_checksum(table, [_hashable(c) for c in table.columns])

    def columns_sql(self, table: Any) -> str:
        # information_schema hides the element type of arrays; its udt_name is enough here
        return super().columns_sql(table)

    def check(self) -> list[str]:
        lines = super().check()
        row = self.client.rows("SELECT current_user, version()")
        lines.insert(1, f"signed in as {row[0][0]} · {str(row[0][1]).split(',')[0]}")
        return lines

    def read(self, request: ReadRequest, schema: Any = None) -> Iterator[pa.RecordBatch]:
        return super().read(request, schema)


#: PostgreSQL types with a hash function (others are hashed as their text)
_HASHABLE = (
    "smallint", "integer", "bigint", "real", "double precision", "numeric", "boolean", "text",
    "character varying", "character", "date", "timestamp without time zone",
    "timestamp with time zone", "time without time zone", "interval", "jsonb", "uuid", "bytea",
)  # fmt: skip


def _hashable(col: Column) -> bool:
    return col.type_name.lower() in _HASHABLE


def _zoned(type_name: str) -> bool:
    name = type_name.lower()
    return "with time zone" in name or name == "timestamptz"
