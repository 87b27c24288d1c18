"""psycopg client: COPY for rows, one transaction per step; driver errors mapped here."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from driftline.errors import TerminalError, TransientError
from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.postgres.config import PostgresConfig

COPY_CHUNK_ROWS = 100_000


def _map(exc: Exception, what: str) -> Exception:
    import psycopg

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, psycopg.OperationalError):
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
        self.schema: str | None = config.schema
        try:
            self.conn: Any = psycopg.connect(config.dsn, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise _map(exc, "cannot connect to the PostgreSQL destination") from None

    def check(self) -> None:
        self.query("SELECT 1")

    def execute(self, sql: str) -> None:
        import psycopg

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

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        import psycopg

        try:
            with self.conn.transaction():
                yield
        except psycopg.Error as exc:
            raise _map(exc, "PostgreSQL destination") from None

    def append(self, table: str, data: pa.Table, json_columns: list[str]) -> None:
        """COPY the rows in CSV (Arrow renders it in C++)."""
        from sqlglot import exp

        target = ".".join(
            exp.to_identifier(p, quoted=True).sql("postgres")
            for p in ([self.schema] if self.schema else []) + [table]
        )
        cols = ", ".join(
            exp.to_identifier(c, quoted=True).sql("postgres") for c in data.column_names
        )
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT csv)") as copy,
        ):
            for offset in range(0, data.num_rows, COPY_CHUNK_ROWS):
                sink = io.BytesIO()
                pacsv.write_csv(data.slice(offset, COPY_CHUNK_ROWS), sink, options)
                copy.write(sink.getbuffer())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
