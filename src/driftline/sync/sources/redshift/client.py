"""Redshift through psycopg: a named (server-side) cursor read page by page."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from sqlglot import exp

from driftline.sync.sources.base import Capabilities, Column, ColumnKind, TableSchema
from driftline.sync.sources.postgres.client import PostgresClient, PostgresSource
from driftline.sync.sources.postgres.config import PostgresConfig
from driftline.sync.sources.sql import batch_from_rows, column


class RedshiftClient(PostgresClient):
    def batches(self, sql: str, columns: list[Column], batch_rows: int) -> Iterator[pa.RecordBatch]:
        conn = self.connection()
        with self._errors(), conn.transaction(), conn.cursor(name="driftline_read") as cur:
            cur.itersize = batch_rows
            cur.execute(sql)
            while rows := cur.fetchmany(batch_rows):
                yield batch_from_rows(rows, columns)


class RedshiftSource(PostgresSource):
    system_schemas = ("information_schema", "pg_catalog", "pg_internal")

    def __init__(self, config: PostgresConfig, capabilities: Capabilities) -> None:
        super().__init__(config, capabilities)
        self.client = RedshiftClient(config)

    def row_checksum(self, table: TableSchema) -> exp.Expression:
        """Redshift has no ``hash_record_extended``: MD5 over the columns' text."""
        from driftline.sync.sources.checksums import row_checksum

        return row_checksum(table)

    def column_expr(self, col: Column) -> exp.Expression:
        ref = column(col.name)
        if col.kind in (ColumnKind.JSON, ColumnKind.OTHER):
            return exp.func("json_serialize", ref) if "super" in col.type_name.lower() else ref
        return ref
