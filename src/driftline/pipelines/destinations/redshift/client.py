"""Redshift over the PostgreSQL protocol (psycopg); rows as multi-row INSERT batches."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from driftline.pipelines.destinations.postgres.client import PostgresWarehouse

INSERT_BATCH_ROWS = 5_000


class RedshiftWarehouse(PostgresWarehouse):
    binary_copy = False

    def append(self, table: str, data: pa.Table, json_columns: list[str]) -> None:
        from sqlglot import exp

        def q(name: str) -> str:
            return exp.to_identifier(name, quoted=True).sql("redshift")

        target = f"{q(self.schema)}.{q(table)}" if self.schema else q(table)
        cols = ", ".join(q(c) for c in data.column_names)
        row = "(" + ", ".join(["%s"] * data.num_columns) + ")"
        for offset in range(0, data.num_rows, INSERT_BATCH_ROWS):
            chunk = data.slice(offset, INSERT_BATCH_ROWS)
            columns = [c.to_pylist() for c in chunk.columns]
            values: list[Any] = [v for r in zip(*columns, strict=True) for v in r]
            sql = f"INSERT INTO {target} ({cols}) VALUES " + ", ".join([row] * chunk.num_rows)
            with self.conn.cursor() as cur:
                cur.execute(sql, values)
