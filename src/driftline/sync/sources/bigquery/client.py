"""BigQuery through ``google-cloud-bigquery``: catalog from INFORMATION_SCHEMA, rows as Arrow."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from google.api_core import exceptions as gexc
from google.cloud import bigquery
from sqlglot import exp

from driftline.errors import DriftlineError, TerminalError, TransientError
from driftline.sync.sources.base import Capabilities, Column, ColumnKind, TableRef
from driftline.sync.sources.bigquery.config import BigQueryConfig
from driftline.sync.sources.sql import SqlSource, column

_TRANSIENT = (gexc.TooManyRequests, gexc.InternalServerError, gexc.ServiceUnavailable,
              gexc.GatewayTimeout, gexc.BadGateway)  # fmt: skip


def map_error(exc: BaseException, config: BigQueryConfig) -> DriftlineError:
    """The one place BigQuery client errors become driftline errors."""
    text = getattr(exc, "message", None) or str(exc)
    message = f"{config.shown}: {str(text).strip().splitlines()[0]}"
    if isinstance(exc, _TRANSIENT):
        return TransientError(message)
    return TerminalError(message)


class BigQueryClient:
    def __init__(self, config: BigQueryConfig, client: Any = None) -> None:
        self.config = config
        self._client = client

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except gexc.GoogleAPIError as exc:
            raise map_error(exc, self.config) from None

    def client(self) -> Any:
        if self._client is None:
            with self._errors():
                if self.config.credentials_path:
                    self._client = bigquery.Client.from_service_account_json(
                        self.config.credentials_path, project=self.config.project
                    )
                else:
                    self._client = bigquery.Client(
                        project=self.config.project, location=self.config.location
                    )
        return self._client

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self._errors():
            return [tuple(row.values()) for row in self.client().query(sql).result()]

    def batches(self, sql: str, columns: list[Column], batch_rows: int) -> Iterator[pa.RecordBatch]:
        with self._errors():
            result = self.client().query(sql).result(page_size=batch_rows)
            for batch in result.to_arrow_iterable():
                arrays = [
                    a.cast(pa.timestamp(a.type.unit))
                    if pa.types.is_timestamp(a.type) and a.type.tz
                    else a
                    for a in batch.columns
                ]
                yield pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()


class BigQuerySource(SqlSource):
    def __init__(
        self, config: BigQueryConfig, capabilities: Capabilities, client: Any = None
    ) -> None:
        super().__init__(BigQueryClient(config, client), description=config.shown)
        self.capabilities = capabilities
        self.config = config
        self.default_schema = config.dataset

    def _info_schema(self, view: str) -> exp.Table:
        dataset = self.config.dataset or "region-us"
        return exp.Table(
            this=exp.to_identifier(view),
            db=exp.to_identifier("INFORMATION_SCHEMA"),
            catalog=exp.to_identifier(dataset, quoted=True),
        )

    def tables_sql(self) -> str:
        return self.render(
            exp.select("table_schema", "table_name")
            .from_(self._info_schema("TABLES"))
            .order_by("table_name")
        )

    def columns_sql(self, table: TableRef) -> str:
        return self.render(
            exp.select("column_name", "data_type", "is_nullable")
            .from_(self._info_schema("COLUMNS"))
            .where(exp.column("table_name").eq(exp.Literal.string(table.name)))
            .order_by("ordinal_position")
        )

    def column_expr(self, col: Column) -> exp.Expression:
        ref = column(col.name)
        if col.kind is ColumnKind.JSON:
            return exp.func("TO_JSON_STRING", ref)
        return ref
