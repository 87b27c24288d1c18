"""DuckDB files (opened read-only) and Parquet folders (as views in an in-memory database)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from driftline.errors import DriftlineError, TerminalError, TransientError
from driftline.sync.sources.base import (
    Capabilities,
    Column,
    ReadRequest,
    StoreRead,
    TableRef,
    TableSchema,
)
from driftline.sync.sources.sql import SqlSource
from driftline.sync.sources.sqlite.config import FileConfig


def map_error(exc: BaseException, config: FileConfig) -> DriftlineError:
    """The one place DuckDB errors become driftline errors."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    message = f"{config.shown}: {first}"
    if isinstance(exc, duckdb.IOException) and "lock" in first.lower():
        return TransientError(message + " (another process is writing it; retrying later helps)")
    return TerminalError(message)


class DuckDBClient:
    def __init__(self, config: FileConfig) -> None:
        self.config = config
        self._conn: duckdb.DuckDBPyConnection | None = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except duckdb.Error as exc:
            raise map_error(exc, self.config) from None

    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._conn is not None:
            return self._conn
        path = self.config.path
        config = {"autoinstall_known_extensions": "false", "threads": "2"}
        kind = self.config.kind()
        with self._errors():
            if kind == "dir":
                conn = duckdb.connect(":memory:", config=config)
                for name, target in _parquet_tables(path).items():
                    ident = exp.to_identifier(name, quoted=True).sql("duckdb")
                    literal = exp.Literal.string(target).sql("duckdb")
                    conn.execute(f"CREATE VIEW {ident} AS SELECT * FROM read_parquet({literal})")
            elif kind == "file":
                conn = duckdb.connect(str(path), read_only=True, config=config)
            else:
                raise TerminalError(f"{self.config.shown}: file or folder {path} not found")
            conn.execute("SET TimeZone = 'UTC'")
        self._conn = conn
        return conn

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self._errors():
            return self.connection().execute(sql).fetchall()

    def batches(self, sql: str, columns: list[Column], batch_rows: int) -> Iterator[pa.RecordBatch]:
        with self._errors():
            cur = self.connection().cursor()
            try:
                reader = cur.sql(sql).to_arrow_reader(batch_rows)
                for batch in reader:
                    yield _plain(batch)
            finally:
                cur.close()

    def mapped_batches(
        self, sql: str, params: dict[str, object] | None, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        with self._errors():
            cur = self.connection().cursor()
            try:
                for batch in cur.sql(sql, params=params).to_arrow_reader(batch_rows):
                    yield _plain(batch)
            finally:
                cur.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _parquet_tables(folder: Path) -> dict[str, str]:
    tables: dict[str, str] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and entry.suffix == ".parquet":
            tables[entry.stem] = str(entry)
        elif entry.is_dir() and any(entry.rglob("*.parquet")):
            tables[entry.name] = str(entry / "**" / "*.parquet")
    return tables


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Timestamps with a zone as UTC wall time; string views as plain strings."""
    arrays, changed = [], False
    for arr in batch.columns:
        t = arr.type
        if pa.types.is_timestamp(t) and t.tz is not None:
            arr, changed = arr.cast(pa.timestamp(t.unit)), True
        elif pa.types.is_string_view(t):
            arr, changed = arr.cast(pa.string()), True
        arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names) if changed else batch


#: the name a DuckDB file has in the store while a run reads it there
STORE_ALIAS = "_dl_source"


class DuckDBSource(SqlSource):
    system_schemas = ("information_schema", "pg_catalog")

    def __init__(self, config: FileConfig, capabilities: Capabilities) -> None:
        super().__init__(DuckDBClient(config), description=config.shown)
        self.capabilities = capabilities

    def store_read_sql(self, request: ReadRequest, schema: TableSchema) -> StoreRead | None:
        """The read as SQL that the store's own DuckDB can run, or None. The store reads
        Parquet folders' files itself, and a DuckDB file by attaching it read-only as
        :data:`STORE_ALIAS`."""
        assert isinstance(self.client, DuckDBClient)
        path = self.client.config.path
        if path.is_file():
            return self._attached_read(request, schema, path)
        if request.table.schema is not None or not path.is_dir():
            return None
        target = _parquet_tables(path).get(request.table.name)
        if target is None:
            return None
        ident = exp.to_identifier(request.table.name, quoted=True).sql("duckdb")
        literal = exp.Literal.string(target).sql("duckdb")
        return StoreRead(
            f"WITH {ident} AS (SELECT * FROM read_parquet({literal})) "
            f"{self.select_sql(request, schema)}"
        )

    def _attached_read(
        self, request: ReadRequest, schema: TableSchema, path: Path
    ) -> StoreRead | None:
        """The file's table named through the alias it has in the store. A table named
        with a catalog is read there only when the catalog is this file's own."""
        database, _, own_schema = (request.table.schema or "").rpartition(".")
        if database and database != self._catalog():
            return None
        table = TableRef(request.table.name, f"{STORE_ALIAS}.{own_schema or 'main'}")
        sql = self.select_sql(dataclasses.replace(request, table=table), schema)
        return StoreRead(sql, attach=(STORE_ALIAS, str(path.resolve())))

    def _catalog(self) -> str:
        [(name,)] = self.client.rows("SELECT current_database()")
        return str(name)

    def read_mapped(
        self, request: ReadRequest, schema: TableSchema, relation: str, mapping_sql: str,
        params: dict[str, object] | None,
    ) -> Iterator[pa.RecordBatch]:  # fmt: skip
        """The mapping runs here, over the read (see :class:`MapsInPlace`)."""
        read = self.select_sql(request, schema)
        ident = exp.to_identifier(relation, quoted=True).sql("duckdb")
        sql = (
            f"WITH {ident} AS (SELECT *, CAST(0 AS BIGINT) AS _seq FROM ({read})) "
            f"SELECT * FROM ({mapping_sql})"
        )
        assert isinstance(self.client, DuckDBClient)
        yield from self.client.mapped_batches(sql, params, self.capabilities.batch_rows)
