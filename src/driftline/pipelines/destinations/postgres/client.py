"""PostgreSQL client: statements through psycopg; rows through ADBC's binary ``COPY`` (Arrow
to the wire format in C++: no CSV to render or parse). A step's rows and its export-log row
commit in one transaction on the ADBC connection; driver errors are mapped here."""

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
        if self._cursor is None:  # outside a step's transaction: a transaction of its own
            with self._copy_transaction():
                self.append(table, data, json_columns)
            return
        for name in json_columns:
            if name in data.column_names:
                index = data.column_names.index(name)
                column = pc.binary_join_element_wise(
                    JSONB_VERSION, data.column(index).cast(pa.binary()), b""
                )
                data = data.set_column(index, name, column)
        try:
            self._cursor.adbc_ingest(table, data, mode="append", db_schema_name=self.schema)
        except Exception as exc:
            raise _map(exc, f"PostgreSQL destination: loading {table}") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        if self._adbc is not None:
            with contextlib.suppress(Exception):
                self._adbc.close()
