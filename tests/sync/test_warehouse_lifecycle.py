"""`warehouse add` connects before it saves, and `warehouse delete` never takes a sync's
state with it: against the real PostgreSQL and MariaDB, and SQLite and DuckDB files.

A new user's mistyped URL (a wrong port, password or database, a file that is not there)
used to be saved with a 201 and only failed at `warehouse test` or at the first sync; and
with no `warehouse delete`, the only way to fix it was `driftline apply`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from driftline.store import DuckDBStore
from tests.conftest import run_cli

SECRET = "whtest-Pa55word"


@pytest.fixture
def auth(store: DuckDBStore) -> dict[str, str]:
    secret = store.get_project(1).secret
    return {"Authorization": "Basic " + base64.b64encode(f"{secret}:".encode()).decode()}


def _add(client: TestClient, auth: dict[str, str], url: str, **params: Any) -> Any:
    return client.post(
        "/api/v1/warehouses", json={"name": "w", "url": url}, headers=auth, params=params
    )


def _names(client: TestClient, auth: dict[str, str]) -> list[str]:
    return [w["name"] for w in client.get("/api/v1/warehouses", headers=auth).json()]


def _unreachable(kind: str, tmp_path: Path, postgres: Any, mariadb: Any) -> str:
    return {
        "postgres closed port": f"postgresql://postgres:{SECRET}@127.0.0.1:1/test",
        "postgres wrong database": postgres.url.rsplit("/", 1)[0] + "/whtest_no_such_db",
        "mariadb wrong database": mariadb.url.rsplit("/", 1)[0] + "/whtest_no_such_db",
        "mariadb wrong password": mariadb.url.replace("root@", f"root:{SECRET}@"),
        "sqlite missing file": f"sqlite:///{tmp_path / 'missing.sqlite'}",
        "duckdb missing file": f"duckdb:///{tmp_path / 'missing.duckdb'}",
    }[kind]


@pytest.mark.parametrize(
    "kind",
    ["postgres closed port", "postgres wrong database", "mariadb wrong database",
     "mariadb wrong password", "sqlite missing file", "duckdb missing file"],
)  # fmt: skip
def test_a_warehouse_that_does_not_connect_is_refused_unless_untested(
    client: TestClient, auth: dict[str, str], tmp_path: Path, postgres: Any, mariadb: Any,
    kind: str,
) -> None:  # fmt: skip
    url = _unreachable(kind, tmp_path, postgres, mariadb)
    refused = _add(client, auth, url)
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "url"
    assert "--no-test" in refused.json()["error"] and SECRET not in refused.text
    assert _names(client, auth) == []  # nothing saved

    saved = _add(client, auth, url, test=False)  # not reachable from here yet
    assert saved.status_code == 201, saved.text
    assert saved.json()["tested"] is False and SECRET not in saved.text
    tested = client.post("/api/v1/warehouses/w/test", headers=auth)
    assert tested.status_code >= 400
    # the same one-line reason `warehouse test` gives
    assert refused.json()["error"].startswith(tested.json()["error"]), (refused.text, tested.text)


@pytest.mark.parametrize(
    "url",
    ["duckdb:///\x00", "duckdb:///a\x00b.duckdb", "sqlite:///", "sqlite://", "snowflake://",
     "postgresql://", "mysql://127.0.0.1", "postgresql://h:99999/db", "snowflake://u@acct?port=x",
     "databricks://token@host"],
)  # fmt: skip
def test_a_url_that_can_never_work_is_refused_even_untested(
    client: TestClient, auth: dict[str, str], url: str
) -> None:
    for test in (True, False):
        r = _add(client, auth, url, test=test)
        assert r.status_code == 400, (test, r.text)
        assert r.json()["field"] == "url" and r.json()["error"]
    assert _names(client, auth) == []


def test_reachable_warehouses_are_added_with_what_they_hold(
    client: TestClient, auth: dict[str, str], postgres: Any, mariadb: Any, sqlite_wh: Any,
    duckdb_wh: Any,
) -> None:  # fmt: skip
    for wh in (postgres, mariadb, sqlite_wh, duckdb_wh):
        wh.create("whtest_orders", [("id", "text")], [("o1",)])
        r = client.post(
            "/api/v1/warehouses", json={"name": type(wh).__name__, "url": wh.url}, headers=auth
        )
        assert r.status_code == 201, r.text
        assert r.json()["tested"] is True
        assert any("whtest_orders" in t for t in r.json()["tables"]), r.text
    assert _names(client, auth) == ["DuckDBFile", "MariaDB", "Postgres", "SQLite"]


def test_env_references_are_resolved_when_testing_and_kept_as_written(
    client: TestClient, auth: dict[str, str], sqlite_wh: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_wh.create("t", [("id", "text")], [("a",)])
    url = "sqlite:///${WHTEST_DB}"
    monkeypatch.delenv("WHTEST_DB", raising=False)
    r = _add(client, auth, url)
    assert r.status_code == 400 and "WHTEST_DB" in r.json()["error"], r.text
    assert _add(client, auth, url, test=False).status_code == 201  # set on the server later
    monkeypatch.setenv("WHTEST_DB", sqlite_wh.url.removeprefix("sqlite:///"))
    r = _add(client, auth, url, replace=True)
    assert r.status_code == 201, r.text
    listed = client.get("/api/v1/warehouses", headers=auth).json()
    assert [w["url"] for w in listed] == [url]  # stored as written, resolved at connect


def test_delete_is_refused_while_a_sync_uses_the_warehouse(
    client: TestClient, auth: dict[str, str], postgres: Any, store: DuckDBStore
) -> None:
    postgres.create(
        "whtest_items", [("id", "text"), ("title", "text")], [("a", "Hat"), ("b", "Cap")]
    )
    assert _add(client, auth, postgres.url).status_code == 201
    spec = {"warehouse": "w", "table": "public.whtest_items", "type": "lookup-table",
            "mode": "full", "id_column": "id"}  # fmt: skip
    for name in ("items", "more_items"):
        r = client.post("/api/v1/syncs", json={"name": name, **spec}, headers=auth)
        assert r.status_code == 201, r.text
    ran = client.post("/api/v1/syncs/items/run", params={"wait": "true"}, headers=auth)
    assert ran.json()["inserted"] == 2, ran.text

    refused = client.delete("/api/v1/warehouses/w", headers=auth)
    assert refused.status_code == 409, refused.text
    assert "items, more_items" in refused.json()["error"]
    assert "driftline sync delete" in refused.json()["error"]
    assert _names(client, auth) == ["w"]
    assert len(client.get("/api/v1/syncs/items/runs", headers=auth).json()) == 1  # history kept

    client.delete("/api/v1/syncs/more_items", headers=auth)
    refused = client.delete("/api/v1/warehouses/w", headers=auth)
    assert refused.status_code == 409 and "sync delete items" in refused.json()["error"]
    client.delete("/api/v1/syncs/items", headers=auth)
    deleted = client.delete("/api/v1/warehouses/w", headers=auth)
    assert deleted.status_code == 200 and deleted.json() == {"name": "w", "deleted": True}
    assert _names(client, auth) == []
    assert client.delete("/api/v1/warehouses/w", headers=auth).status_code == 404
    assert store.query_rows("SELECT count(*) FROM lookup_rows") == [(2,)]  # loaded data stays


def test_the_cli_refuses_a_bad_url_and_deletes_a_warehouse(tmp_path: Path, sqlite_wh: Any) -> None:
    data = tmp_path / "data"
    run_cli("init", data_dir=data)
    bad = f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"
    proc = run_cli("warehouse", "add", "pg", bad, data_dir=data, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Connection refused" in lines[0] and "--no-test" in lines[0]
    assert SECRET not in proc.stderr + proc.stdout
    proc = run_cli("warehouse", "add", "pg", bad, "--no-test", data_dir=data)
    assert "saved without a test" in proc.stderr and SECRET not in proc.stderr + proc.stdout

    sqlite_wh.create("skus", [("sku", "text")], [("s1",)])
    proc = run_cli("warehouse", "add", "files", sqlite_wh.url, data_dir=data)
    assert "connected" in proc.stderr
    run_cli("sync", "add", "skus", "--warehouse", "files", "--table", "skus",
            "--type", "lookup-table", "--mode", "full", "--id-column", "sku", data_dir=data)  # fmt: skip
    proc = run_cli("warehouse", "delete", "files", data_dir=data, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        'error: warehouse "files" is used by sync skus: delete the sync first with '
        "`driftline sync delete skus` (the data it loaded stays; its watermark and history go)"
    )
    run_cli("warehouse", "delete", "pg", data_dir=data)
    run_cli("sync", "delete", "skus", data_dir=data)
    run_cli("warehouse", "delete", "files", data_dir=data)
    assert json.loads(run_cli("warehouse", "list", "--format", "json", data_dir=data).stdout) == []


def test_a_sync_is_not_saved_for_a_warehouse_deleted_meanwhile(store: DuckDBStore) -> None:
    """`sync add` looks its warehouse up before it writes; the write checks it again, so a
    `warehouse delete` in between cannot leave a sync that points at nothing."""
    from driftline.errors import NotFound
    from driftline.store import GroupCommitWriter
    from driftline.store.sync_ops import SaveSync

    writer = GroupCommitWriter(store)
    try:
        with pytest.raises(NotFound, match='no warehouse named "gone"'):
            writer.submit(SaveSync(1, "orders", "gone", {"table": "orders"})).result()
    finally:
        writer.close()
    assert store.query_rows("SELECT count(*) FROM syncs") == [(0,)]
