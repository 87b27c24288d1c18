"""The server: health, metrics, admin API, auth and isolation, the CLI going through it,
graceful shutdown."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from driftline.store import DuckDBStore
from tests.conftest import RunningServer, run_cli, start_server


def ndjson(path: Path, n: int, prefix: str = "e") -> Path:
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    "event": "Ping",
                    "properties": {
                        "time": 1_735_689_600 + i,
                        "distinct_id": f"u{i}",
                        "$insert_id": f"{prefix}{i}",
                    },
                }
            )
            for i in range(n)
        )
    )
    return path


def test_healthz_and_metrics(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    client.get("/nope")
    text = client.get("/metrics").text
    assert "driftline_events_stored 0.0" in text
    assert "driftline_writer_queue_rows 0.0" in text
    assert "driftline_store_live_load 0.0" in text
    assert 'driftline_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert "driftline_http_request_duration_seconds_bucket" in text


def test_unknown_routes_and_bad_requests_answer_json(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.json()["status"] == 404
    bad = client.post("/api/v1/projects", json={"name": ""}, headers=admin_headers)
    assert bad.status_code == 400 and bad.json()["field"] == "name"
    tz = client.post(
        "/api/v1/projects", json={"name": "x", "timezone": "Nowhere/City"}, headers=admin_headers
    )
    assert tz.status_code == 400 and tz.json()["field"] == "timezone"
    # a body that is not JSON was '0: JSON decode error' naming a field "0"
    garbled = client.post(
        "/api/v1/projects",
        content=b'{"name": ',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert garbled.status_code == 400 and garbled.json()["field"] == "body"
    assert garbled.json()["error"].startswith("body is not valid JSON"), garbled.text
    listed = client.post("/api/v1/projects", json=["x"], headers=admin_headers)
    assert listed.status_code == 400 and listed.json()["field"] == "body"
    assert listed.json()["error"].startswith("body: "), listed.text


def test_admin_api_needs_the_admin_token(
    client: TestClient, admin_headers: dict[str, str], store: DuckDBStore
) -> None:
    assert client.post("/api/v1/projects", json={"name": "web"}).status_code == 401
    created = client.post(
        "/api/v1/projects", json={"name": "web", "timezone": "Europe/Berlin"}, headers=admin_headers
    )
    assert created.status_code == 201 and len(created.json()["secret"]) == 32
    listed = client.get("/api/v1/projects", headers=admin_headers).json()
    assert [p["name"] for p in listed] == ["default", "web"] and all(
        "secret" not in p for p in listed
    )
    # a project's secret sees only its own project
    secret = store.get_project("web").secret
    own = client.get("/api/v1/projects", auth=(secret, "")).json()
    assert [p["name"] for p in own] == ["web"]
    assert client.get("/api/v1/projects", auth=("wrong", "")).status_code == 401


def test_export_is_per_project_and_authenticated(server: RunningServer, tmp_path: Path) -> None:
    run_cli("project", "create", "second", data_dir=server.data_dir)
    run_cli(
        "import", "events", str(ndjson(tmp_path / "a.ndjson", 5, "a")), data_dir=server.data_dir
    )
    run_cli(
        "import",
        "events",
        str(ndjson(tmp_path / "b.ndjson", 3, "b")),
        "--project",
        "second",
        data_dir=server.data_dir,
    )
    projects = json.loads(
        run_cli("project", "list", "--show-secrets", "-f", "json", data_dir=server.data_dir).stdout
    )
    params = {"from_date": "2025-01-01", "to_date": "2025-01-01"}
    first = httpx.get(
        server.url + "/api/2.0/export", params=params, auth=(projects[0]["secret"], "")
    )
    second = httpx.get(
        server.url + "/api/2.0/export", params=params, auth=(projects[1]["secret"], "")
    )
    assert len(first.text.splitlines()) == 5 and len(second.text.splitlines()) == 3
    assert {json.loads(x)["properties"]["$insert_id"][0] for x in second.text.splitlines()} == {"b"}
    # a secret cannot read another project by naming it
    cross = httpx.get(
        server.url + "/api/2.0/export",
        params=params | {"project_id": "1"},
        auth=(projects[1]["secret"], ""),
    )
    assert cross.status_code == 401
    assert httpx.get(server.url + "/api/2.0/export", params=params).status_code == 401
    # tokens are for ingestion only
    assert (
        httpx.get(
            server.url + "/api/2.0/export", params=params, auth=(projects[0]["token"], "")
        ).status_code
        == 401
    )
    bad = httpx.get(
        server.url + "/api/2.0/export",
        params={"from_date": "x", "to_date": "2025-01-01"},
        auth=(projects[0]["secret"], ""),
    )
    assert bad.status_code == 400 and bad.json()["field"] == "from_date"


def test_cli_goes_through_the_running_server(server: RunningServer, tmp_path: Path) -> None:
    # while the server owns the store the CLI must not touch the file (it would get a lock error)
    run_cli("import", "events", str(ndjson(tmp_path / "a.ndjson", 50)), data_dir=server.data_dir)
    out = run_cli(
        "export", "events", "--from", "2025-01-01", "--to", "2025-01-01", data_dir=server.data_dir
    ).stdout
    assert len(out.splitlines()) == 50
    metrics = httpx.get(server.url + "/metrics").text
    assert "driftline_events_stored 50.0" in metrics
    assert 'route="/api/v1/_cli/events"' in metrics
    listed = run_cli("project", "list", data_dir=server.data_dir)
    assert "default" in listed.stdout and "lock" not in listed.stderr.lower()


def test_graceful_shutdown_flushes_and_releases(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    srv = start_server(data_dir)
    run_cli("import", "events", str(ndjson(tmp_path / "a.ndjson", 20)), data_dir=data_dir)
    assert srv.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert not (data_dir / "server.json").exists()
    assert not (data_dir / "store.duckdb.wal").exists()  # checkpointed on the way out
    # and the CLI now opens the store itself
    out = run_cli(
        "export", "events", "--from", "2025-01-01", "--to", "2025-01-01", data_dir=data_dir
    ).stdout
    assert len(out.splitlines()) == 20


def test_a_second_server_on_the_same_data_dir_is_refused(server: RunningServer) -> None:
    proc = run_cli("serve", "--port", "0", data_dir=server.data_dir, check=False, timeout=60)
    assert proc.returncode == 1
    assert "already serves" in proc.stderr
    assert f"at {server.url} (pid {server.process.pid})" in proc.stderr  # which one, where


def test_a_port_in_use_is_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    """It was uvicorn's log, a page of "nanobind: leaked ..." lines and exit status 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cli(
            "serve", "--port", str(port), data_dir=tmp_path / "d", check=False, timeout=60
        )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is in use by another program; choose another with "
        "--port (or DRIFTLINE_PORT), or stop that program"
    )


def test_a_secret_missing_from_the_servers_environment_says_whose(
    server: RunningServer, tmp_path: Path
) -> None:
    """The README exports PG_PASSWORD and then runs `warehouse test` while `driftline serve`
    runs: the server resolves ${PG_PASSWORD}, from its own environment. The message said only
    "is not set", about a variable the user had just set. `warehouse add` tests the
    connection now, so it says so first; saved untested, `warehouse test` says it again."""
    env = {**os.environ, "SHOP_DB": str(tmp_path / "shop.db")}  # the user's shell, not the server's
    url = "sqlite:///${SHOP_DB}"
    for args in (("add", "shop", url), ("add", "shop", url, "--no-test"), ("test", "shop")):
        proc = run_cli("warehouse", *args, data_dir=server.data_dir, env=env, check=False)
        if "--no-test" in args:
            assert proc.returncode == 0, proc.stderr
            continue
        assert proc.returncode == 1
        assert "SHOP_DB is referenced as ${SHOP_DB} but is not set in the environment of" in (
            proc.stderr
        )
        assert "`driftline serve`" in proc.stderr and "restart the server" in proc.stderr


def test_bucket_credentials_missing_from_the_servers_environment_say_whose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pipeline add` through a server started without AWS_* said "set AWS_ACCESS_KEY_ID ...",
    to a user who had set them, in the shell that ran the command."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    srv = start_server(tmp_path / "srv")
    try:
        shell = {**os.environ, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
        proc = run_cli(
            "pipeline", "add", "raw", "--destination", "s3://bucket/prefix",
            data_dir=srv.data_dir, env=shell, check=False,
        )  # fmt: skip
    finally:
        srv.stop()
    assert proc.returncode == 1
    assert "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in proc.stderr
    assert f"in the environment of `driftline serve` (pid {srv.process.pid})" in proc.stderr


def test_cli_operations_answer_wrong_argument_types_with_a_400(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    """The CLI's operations over HTTP (admin token) took any JSON: a list for a name, a
    string for a project id, a report without its dates were 500s from deep inside."""
    for name, args, field in (
        ("sync.get", {"name": False}, "name"),
        ("pipeline.run", {"name": "p", "until": []}, "until"),
        ("snowplow.bad_rows.export", {"project_id": 1, "limit": "many"}, "limit"),
        ("query.segmentation", {"event": "A"}, "from_date"),
        ("query.profiles", {"page": "x"}, "page"),
        ("apply", {"doc": None}, "doc"),
    ):
        r = client.post(f"/api/v1/_cli/ops/{name}", json=args, headers=admin_headers)
        assert r.status_code == 400 and r.json()["field"] == field, (name, r.text)
