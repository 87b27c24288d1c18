"""PostgreSQL client: statements through psycopg; rows through ADBC's binary ``COPY`` (Arrow
to the wire format in C++: no CSV to render or parse), one ``COPY`` per step fed in small
slices, so that the server parses rows while the next ones are rendered and encoded. A
step's rows and its export-log row commit in one transaction on the ADBC connection;
driver errors are mapped here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from driftline.errors import TerminalError, TransientError
from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.postgres.config import PostgresConfig

#: jsonb's binary input format: a version byte, then the JSON text
JSONB_VERSION = b"\x01"
#: rows per Arrow batch handed to the driver, which encodes a batch whole before sending it
COPY_CHUNK_ROWS = 4096


def _jsonb(data: pa.Table, json_columns: list[str]) -> pa.Table:
    """JSON text columns in jsonb's binary input format (the version byte first)."""
    for name in json_columns:
        if name in data.column_names:
            index = data.column_names.index(name)
            column = pc.binary_join_element_wise(
                JSONB_VERSION, data.column(index).cast(pa.binary()), b""
            )
            data = data.set_column(index, name, column)
    return data


def _map(exc: Exception, what: str) -> Exception:
    import psycopg

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    # psycopg's and ADBC's OperationalError: the connection or the server, not the data
    if isinstance(exc, psycopg.OperationalError) or type(exc).__name__ == "OperationalError":
        if "password" in first or "authentication" in first or "does not exist" in first:
            return TerminalError(f"{what}: {first}; check the destination URL")
        return TransientError(f"{what}: {first}")
    return TerminalError(f"{what}: {first}")


class PostgresWarehouse:
    def __init__(self, config: PostgresConfig, capabilities: Capabilities) -> None:
        try:
            import psycopg
        except ImportError:
            raise TerminalError(
                "PostgreSQL destinations need: pip install 'driftline[postgres]'"
            ) from None
        self.capabilities = capabilities
        self.config = config
        self.schema: str | None = config.schema
        self._adbc: Any = None
        self._cursor: Any = None
        try:
            self.conn: Any = psycopg.connect(config.dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise _map(exc, "cannot connect to the PostgreSQL destination") from None

    def check(self) -> None:
        self.query("SELECT 1")

    def execute(self, sql: str) -> None:
        import psycopg

        if self._cursor is not None:  # inside a binary-COPY transaction
            try:
                self._cursor.execute(sql)
            except Exception as exc:
                raise _map(exc, "PostgreSQL destination") from None
            return
        try:
            self.conn.execute(sql)
        except psycopg.Error as exc:
            raise _map(exc, "PostgreSQL destination") from None

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            rows: list[tuple[Any, ...]] = self.conn.execute(sql).fetchall()
        except psycopg.Error as exc:
            raise _map(exc, "PostgreSQL destination") from None
        return rows

    #: rows go through ADBC's binary COPY (Redshift, which has no COPY FROM STDIN, says no)
    binary_copy = True

    def _loader(self) -> Any:
        """The ADBC connection (opened on first use; transactions are explicit on it)."""
        if self._adbc is None:
            try:
                import adbc_driver_postgresql.dbapi as adbc
            except ImportError:
                raise TerminalError(
                    "PostgreSQL destinations need: pip install 'driftline[postgres]'"
                ) from None
            try:
                self._adbc = adbc.connect(self.config.dsn)
            except Exception as exc:
                raise _map(exc, "cannot connect to the PostgreSQL destination") from None
        return self._adbc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction: on the ADBC connection when rows are loaded by binary COPY (its
        ``execute`` and ``append`` calls join it), else on psycopg's."""
        if self.binary_copy:
            with self._copy_transaction():
                yield
            return
        import psycopg

        try:
            with self.conn.transaction():
                yield
        except psycopg.Error as exc:
            raise _map(exc, "PostgreSQL destination") from None

    @contextlib.contextmanager
    def _copy_transaction(self) -> Iterator[None]:
        conn = self._loader()
        self._cursor = conn.cursor()
        try:
            yield
            conn.commit()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            if isinstance(exc, Exception) and not isinstance(exc, TerminalError | TransientError):
                raise _map(exc, "PostgreSQL destination") from None
            raise
        finally:
            with contextlib.suppress(Exception):
                self._cursor.close()
            self._cursor = None

    def append(self, table: str, data: pa.Table, json_columns: list[str]) -> None:
        """Binary COPY of the Arrow rows; JSON columns (jsonb) get their version byte."""
        self.append_stream(table, iter([data]), json_columns)

    def append_stream(
        self, table: str, batches: Iterator[pa.Table], json_columns: list[str]
    ) -> None:
        """One binary COPY of every batch, each read when the driver wants more rows.

        The driver encodes an Arrow batch whole before it sends any of it, so batches go
        in slices of :data:`COPY_CHUNK_ROWS`: the server parses one slice while the next
        is encoded, and the driver (which holds no GIL while it encodes and sends) pulls
        the next batch from ``batches`` only when it needs it. An exception raised by
        ``batches`` is raised here as it was: the driver only sees an error code.
        """
        if not self.binary_copy:  # a subclass's own ``append``, batch by batch
            for batch in batches:
                self.append(table, batch, json_columns)
            return
        if self._cursor is None:  # outside a step's transaction: a transaction of its own
            with self._copy_transaction():
                self.append_stream(table, batches, json_columns)
            return
        first = next(batches, None)
        if first is None:
            return
        first = _jsonb(first, json_columns)
        failure: list[BaseException] = []

        def slices() -> Iterator[pa.RecordBatch]:
            try:
                batch: pa.Table | None = first
                while batch is not None:
                    yield from batch.to_batches(max_chunksize=COPY_CHUNK_ROWS)
                    batch = next(batches, None)
                    if batch is not None:
                        batch = _jsonb(batch, json_columns)
            except BaseException as exc:  # handed back to the caller below
                failure.append(exc)
                raise

        reader = pa.RecordBatchReader.from_batches(first.schema, slices())
        try:
            self._cursor.adbc_ingest(table, reader, mode="append", db_schema_name=self.schema)
        except Exception as exc:
            if failure:
                raise failure[0] from None
            raise _map(exc, f"PostgreSQL destination: loading {table}") from None
        if failure:  # the driver ended the stream without saying so
            raise failure[0]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        if self._adbc is not None:
            with contextlib.suppress(Exception):
                self._adbc.close()
