"""snowflake-connector-python client; its errors mapped to driftline's here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from driftline.errors import TerminalError, TransientError
from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.snowflake.config import SnowflakeConfig


def _map(exc: Exception) -> Exception:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    from snowflake.connector import errors

    if isinstance(exc, errors.OperationalError | errors.InterfaceError):
        return TransientError(f"Snowflake destination: {first}")
    return TerminalError(f"Snowflake destination: {first}")


class SnowflakeWarehouse:
    def __init__(self, config: SnowflakeConfig, capabilities: Capabilities) -> None:
        try:
            import snowflake.connector
        except ImportError:
            raise TerminalError(
                "Snowflake destinations need: pip install 'driftline[snowflake]'"
            ) from None
        self.capabilities = capabilities
        self.database = config.database
        self.schema: str | None = config.schema.upper()
        try:
            self.conn: Any = snowflake.connector.connect(**config.connect)
        except Exception as exc:
            raise _map(exc) from None

    def check(self) -> None:
        self.query("SELECT 1")

    def execute(self, sql: str) -> None:
        try:
            with contextlib.closing(self.conn.cursor()) as cur:
                cur.execute(sql)
        except Exception as exc:
            raise _map(exc) from None

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            with contextlib.closing(self.conn.cursor()) as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        except Exception as exc:
            raise _map(exc) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN")
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.conn.rollback()
            raise
        self.execute("COMMIT")

    def append(self, table: str, data: pa.Table, json_columns: list[str]) -> None:
        from snowflake.connector.pandas_tools import write_pandas

        frame = data.to_pandas(timestamp_as_object=False)
        try:
            ok, *_ = write_pandas(
                self.conn,
                frame,
                table,
                database=self.database,
                schema=self.schema,
                quote_identifiers=True,
                auto_create_table=False,
                use_logical_type=True,
            )
        except Exception as exc:
            raise _map(exc) from None
        if not ok:
            raise TransientError(
                f"Snowflake destination: loading {len(frame)} rows into {table} failed"
            )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
