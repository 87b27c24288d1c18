"""Fuzzing every route the OpenAPI schema describes beyond ingestion (tests/ingest has
those): reports, the raw export, projects, warehouses, syncs and pipelines.

schemathesis generates the requests, with the project secret; a sync, a warehouse and a
pipeline exist, and half of the generated names are theirs, so that the routes below a
name are reached too. Nothing may answer 5xx or show a traceback, and every rejection is a
JSON body with an error. Without credentials, every one of these routes answers 401.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.config import load_settings
from driftline.server import create_app
from driftline.store import DuckDBStore

INGEST_PATHS = r"^/(track|import|engage|groups|lookup-tables)"
KNOWN = {"/api/v1/warehouses/": "w", "/api/v1/syncs/": "s", "/api/v1/pipelines/": "p"}


@pytest.fixture
def app_with_state(
    data_dir: Path, store: DuckDBStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, dict[str, str]]]:
    monkeypatch.setenv("DRIFTLINE_PIPELINE_SCHEDULER", "false")
    warehouse = tmp_path / "wh.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS id, 'a' AS name")
    app = create_app(load_settings(data_dir=data_dir), store=store)
    with TestClient(app) as client:
        auth = {"Authorization": "Basic " + _b64(f"{store.get_project(1).secret}:")}
        for path, body in (
            ("/api/v1/warehouses", {"name": "w", "url": f"duckdb:///{warehouse}"}),
            ("/api/v1/syncs", {"name": "s", "warehouse": "w", "table": "t",
                               "type": "lookup-table", "mode": "full", "id_column": "id"}),
            ("/api/v1/pipelines", {"name": "p", "destination": f"file://{tmp_path}/out"}),
        ):  # fmt: skip
            assert client.post(path, json=body, headers=auth).status_code == 201
        yield app, auth


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def _operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app).exclude(
        path_regex=INGEST_PATHS
    )
    return [result.ok() for result in schema.get_all_operations()]


def test_every_other_route_fuzzed_never_5xx(app_with_state: tuple[Any, dict[str, str]]) -> None:
    app, auth = app_with_state
    operations = _operations(app)
    assert len(operations) >= 30  # reports, export, projects, warehouses, syncs, pipelines

    for operation in operations:

        @given(case=operation.as_strategy(), known=st.booleans())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case: Any, known: bool) -> None:
            for prefix, name in KNOWN.items():
                if known and case.path.startswith(prefix) and case.path_parameters:
                    case.path_parameters["name"] = name
            response = case.call(headers=auth)
            assert response.status_code < 500, (case.method, case.path, response.text[:500])
            assert not re.search(r"Traceback|File \"/", response.text), response.text[:500]
            if response.status_code >= 400:
                assert response.json()["error"], response.text

        fuzz()


#: valid bodies, so that a request fails for its missing credentials alone
BODIES = {
    "/api/v1/projects": {"name": "x"},
    "/api/v1/warehouses": {"name": "x", "url": "duckdb:///x.duckdb"},
    "/api/v1/syncs": {"name": "x", "warehouse": "w", "table": "t", "type": "lookup-table",
                      "mode": "full", "id_column": "id"},
    "/api/v1/pipelines": {"name": "x", "destination": "file:///nowhere"},
    "/api/v1/pipelines/{name}/backfill": {"from_date": "2025-01-01"},
}  # fmt: skip


def test_every_other_route_needs_credentials(app_with_state: tuple[Any, dict[str, str]]) -> None:
    app, _ = app_with_state
    client = TestClient(app)
    for operation in _operations(app):
        path = operation.path.replace("{name}", "p")
        body = BODIES.get(operation.path, {})
        response = client.request(operation.method.upper(), path, json=body)
        assert response.status_code == 401, (operation.method, path, response.text)
        assert response.json()["error"]
        # a bad body or query does not get a stranger its validation details: 401 first
        for bad in ({"json": [1]}, {"content": b"{not json", "params": {"limit": "x"}}):
            response = client.request(operation.method.upper(), path, **bad)  # type: ignore[arg-type]
            assert response.status_code == 401, (operation.method, path, bad, response.text)
