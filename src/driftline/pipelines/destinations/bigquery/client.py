"""google-cloud-bigquery client. Statements of a transaction are sent as one script
(``BEGIN TRANSACTION; ...; COMMIT TRANSACTION;``); rows arrive through load jobs."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from driftline.errors import TerminalError, TransientError
from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.destinations.bigquery.config import BigQueryConfig


def _map(exc: Exception) -> Exception:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    code = getattr(exc, "code", None)
    if code in (429, 500, 502, 503, 504):
        return TransientError(f"BigQuery destination: {first}")
    return TerminalError(f"BigQuery destination: {first}")


class BigQueryWarehouse:
    def __init__(self, config: BigQueryConfig, capabilities: Capabilities) -> None:
        try:
            from google.cloud import bigquery
        except ImportError:
            raise TerminalError(
                "BigQuery destinations need: pip install 'driftline[bigquery]'"
            ) from None
        self.capabilities = capabilities
        self.schema: str | None = config.dataset
        self.config = config
        self._bq = bigquery
        self._script: list[str] | None = None
        try:
            self.client: Any = bigquery.Client(project=config.project, location=config.location)
        except Exception as exc:
            raise _map(exc) from None

    def check(self) -> None:
        self.query("SELECT 1")

    def _run(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            return [tuple(row.values()) for row in self.client.query(sql).result()]
        except Exception as exc:
            raise _map(exc) from None

    def execute(self, sql: str) -> None:
        if self._script is not None:
            self._script.append(sql)
            return
        self._run(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self._run(sql)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._script = []
        try:
            yield
            statements = self._script
        finally:
            self._script = None
        if statements:
            self._run("BEGIN TRANSACTION;\n" + ";\n".join(statements) + ";\nCOMMIT TRANSACTION;")

    def append(self, table: str, data: pa.Table, json_columns: list[str]) -> None:
        sink = io.BytesIO()
        pq.write_table(data, sink)
        sink.seek(0)
        job_config = self._bq.LoadJobConfig(source_format=self._bq.SourceFormat.PARQUET)
        target = f"{self.config.project}.{self.config.dataset}.{table}"
        try:
            self.client.load_table_from_file(sink, target, job_config=job_config).result()
        except Exception as exc:
            raise _map(exc) from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
