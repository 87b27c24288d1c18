"""BigQuery and Databricks cannot run here. Their SQL is pinned by golden files
(``test_sql_golden``); here their thin client paths run against test doubles: the real
``google-cloud-bigquery`` client over a fake HTTP session that answers BigQuery's REST API,
and a DB-API double with Databricks' Arrow fetch (``fetchmany_arrow``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest

from driftline.errors import TerminalError, TransientError
from driftline.sync.sources.base import ReadRequest, TableRef

requests = pytest.importorskip("requests")
pytest.importorskip("google.cloud.bigquery")

JOB = {"projectId": "proj", "jobId": "job1", "location": "US"}


class FakeBigQueryHTTP(requests.Session):
    """Answers the REST calls the BigQuery client makes for one query."""

    is_mtls = False

    def __init__(
        self, rows: list[list[Any]], fields: list[dict[str, str]], status: int = 200
    ) -> None:
        super().__init__()
        self.rows, self.fields, self.status = rows, fields, status
        self.queries: list[str] = []

    def request(
        self, method: str, url: str, data: Any = None, headers: Any = None, **kw: Any
    ) -> Any:  # type: ignore[override]
        response = requests.Response()
        response.status_code = self.status
        response.headers["content-type"] = "application/json"
        response.request = requests.Request(method, url).prepare()
        response.url = url
        path = url.split("?")[0]
        if self.status >= 400:
            body: dict[str, Any] = {
                "error": {"code": self.status, "message": "quota exceeded", "errors": []}
            }
        elif method == "POST" and path.endswith("/jobs"):
            self.queries.append(json.loads(data)["configuration"]["query"]["query"])
            body = {
                "jobReference": JOB,
                "status": {"state": "DONE"},
                "configuration": {"query": {}},
            }
        elif "/queries/job1" in path:
            body = {
                "jobComplete": True, "jobReference": JOB, "schema": {"fields": self.fields},
                "totalRows": str(len(self.rows)),
                "rows": [{"f": [{"v": v} for v in row]} for row in self.rows],
            }  # fmt: skip
        else:
            body = {
                "jobReference": JOB,
                "status": {"state": "DONE"},
                "configuration": {"query": {}},
            }
        response._content = json.dumps(body).encode()
        return response


def bigquery_source(http: FakeBigQueryHTTP) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from driftline.sync.sources.bigquery import CAPABILITIES
    from driftline.sync.sources.bigquery.client import BigQuerySource
    from driftline.sync.sources.bigquery.config import BigQueryConfig

    client = bigquery.Client(project="proj", credentials=AnonymousCredentials(), _http=http)
    return BigQuerySource(
        BigQueryConfig.from_url("bigquery://proj/analytics"), CAPABILITIES, client
    )


def test_bigquery_describe_and_read_through_the_real_client() -> None:
    columns = FakeBigQueryHTTP(
        [["id", "INT64", "NO"], ["email", "STRING", "YES"], ["seen_at", "TIMESTAMP", "YES"]],
        [{"name": "column_name", "type": "STRING"}, {"name": "data_type", "type": "STRING"},
         {"name": "is_nullable", "type": "STRING"}],
    )  # fmt: skip
    schema = bigquery_source(columns).describe(TableRef("users"))
    assert [(c.name, c.kind.value) for c in schema.columns] == [
        ("id", "integer"), ("email", "string"), ("seen_at", "timestamp")
    ]  # fmt: skip
    assert "`analytics`.INFORMATION_SCHEMA.COLUMNS" in columns.queries[0]

    rows = FakeBigQueryHTTP(
        [["1", "a@x.io", "1767225600000000"], ["2", None, None]],
        [{"name": "id", "type": "INTEGER"}, {"name": "email", "type": "STRING"},
         {"name": "seen_at", "type": "TIMESTAMP"}],
    )  # fmt: skip
    source = bigquery_source(rows)
    request = ReadRequest(TableRef("users"), ("id", "email", "seen_at"), since_column="seen_at",
                          since=dt.datetime(2026, 1, 1), since_type="TIMESTAMP")  # fmt: skip
    table = pa.Table.from_batches(list(source.read(request, schema)))
    assert table.to_pylist() == [
        {"id": 1, "email": "a@x.io", "seen_at": dt.datetime(2026, 1, 1)},
        {"id": 2, "email": None, "seen_at": None},
    ]
    assert rows.queries == [
        "SELECT `id`, `email`, `seen_at` FROM `analytics`.`users` "
        "WHERE `seen_at` >= CAST('2026-01-01 00:00:00.000000' AS TIMESTAMP)"
    ]


def test_bigquery_errors_are_mapped() -> None:
    from google.api_core import exceptions as gexc

    from driftline.sync.sources.bigquery.client import map_error
    from driftline.sync.sources.bigquery.config import BigQueryConfig

    config = BigQueryConfig.from_url("bigquery://proj/analytics")
    assert isinstance(map_error(gexc.TooManyRequests("slow down"), config), TransientError)
    assert isinstance(map_error(gexc.Forbidden("no access"), config), TerminalError)
    http = FakeBigQueryHTTP([], [], status=403)
    with pytest.raises(TerminalError) as err:
        bigquery_source(http).count(ReadRequest(TableRef("users"), ("id",)))
    assert "quota exceeded" in str(err.value)


class FakeDatabricksCursor:
    def __init__(self, conn: FakeDatabricks) -> None:
        self.conn = conn
        self._pages: list[pa.Table] = []

    def __enter__(self) -> FakeDatabricksCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str) -> None:
        self.conn.queries.append(sql)
        if self.conn.fail:
            from databricks.sql.exc import RequestError

            raise RequestError("warehouse is starting, token=dapi-SECRET")
        table = self.conn.table
        self._pages = [table.slice(i, 2) for i in range(0, table.num_rows, 2)]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) for r in self.conn.table.to_pylist()]

    def fetchmany_arrow(self, size: int) -> pa.Table:
        return self._pages.pop(0) if self._pages else self.conn.table.slice(0, 0)


class FakeDatabricks:
    def __init__(self, table: pa.Table, fail: bool = False) -> None:
        self.table, self.fail = table, fail
        self.queries: list[str] = []
        self.kwargs: dict[str, Any] = {}

    def __call__(self, **kwargs: Any) -> FakeDatabricks:
        self.kwargs = kwargs
        return self

    def cursor(self) -> FakeDatabricksCursor:
        return FakeDatabricksCursor(self)

    def close(self) -> None:
        pass


def databricks_source(fake: FakeDatabricks) -> Any:
    pytest.importorskip("databricks.sql")
    from driftline.sync.sources.databricks import CAPABILITIES
    from driftline.sync.sources.databricks.client import DatabricksSource
    from driftline.sync.sources.databricks.config import DatabricksConfig

    url = "databricks://token:dapi-SECRET@adb-1.azuredatabricks.net/sql/1.0/warehouses/abc?catalog=main&schema=sales"
    return DatabricksSource(DatabricksConfig.from_url(url), CAPABILITIES, connect=fake)


def test_databricks_reads_arrow_pages() -> None:
    data = pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    fake = FakeDatabricks(data)
    source = databricks_source(fake)
    from driftline.sync.sources.base import Column, ColumnKind, TableSchema

    schema = TableSchema(
        TableRef("orders"),
        (Column("id", "bigint", ColumnKind.INTEGER), Column("name", "string", ColumnKind.STRING)),
    )
    got = pa.Table.from_batches(
        list(source.read(ReadRequest(TableRef("orders"), ("id", "name")), schema))
    )
    assert got.equals(data)
    assert fake.queries == ["SELECT `id`, `name` FROM `sales`.`orders`"]
    assert fake.kwargs["server_hostname"] == "adb-1.azuredatabricks.net"
    assert fake.kwargs["http_path"] == "/sql/1.0/warehouses/abc"


def test_databricks_errors_are_mapped_and_scrubbed() -> None:
    source = databricks_source(FakeDatabricks(pa.table({"id": [1]}), fail=True))
    with pytest.raises((TransientError, TerminalError)) as err:
        source.count(ReadRequest(TableRef("orders"), ("id",)))
    assert "dapi-SECRET" not in str(err.value)
    assert isinstance(err.value, TransientError)
