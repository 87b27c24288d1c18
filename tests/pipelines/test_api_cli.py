"""The admin API (/api/v1/pipelines) and the CLI, in-process and through a running server."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.store import AppendEvents, DuckDBStore

from .conftest import make_events


@pytest.fixture(autouse=True)
def no_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_PIPELINE_SCHEDULER", "false")


def test_pipeline_api_round_trip(
    client: TestClient,
    admin_headers: dict[str, str],
    store: DuckDBStore,
    tmp_path: Path,
    day: dt.datetime,
) -> None:
    url = f"file://{tmp_path}/out?token=abc"
    created = client.post(
        "/api/v1/pipelines",
        headers=admin_headers,
        json={"name": "p", "destination": url, "frequency": "hourly"},
    )
    assert created.status_code == 201, created.text
    assert "abc" not in created.text
    store.apply([AppendEvents(make_events(120, day, dt.timedelta(hours=4)))])
    ran = client.post("/api/v1/pipelines/p/run", headers=admin_headers, json={})
    assert ran.status_code == 200 and ran.json()["events_exported"] == 120
    runs = client.get("/api/v1/pipelines/p/runs", headers=admin_headers).json()
    assert runs[-1]["events_in_store"] == runs[-1]["events_exported"] == 120
    planned = client.post(
        "/api/v1/pipelines/p/backfill",
        headers=admin_headers,
        json={"from_date": (day - dt.timedelta(days=5)).date().isoformat()},
    )
    assert planned.status_code == 202
    assert client.get("/api/v1/pipelines/p", headers=admin_headers).json()["name"] == "p"
    # the project secret opens its own pipelines too
    secret = store.get_project(1).secret
    assert client.get("/api/v1/pipelines", auth=(secret, "")).status_code == 200
    assert client.delete("/api/v1/pipelines/p", headers=admin_headers).status_code == 200
    assert client.get("/api/v1/pipelines/p", headers=admin_headers).status_code == 404


def test_api_errors_are_4xx_naming_the_field(
    client: TestClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    assert client.get("/api/v1/pipelines").status_code == 401
    bad = client.post(
        "/api/v1/pipelines", headers=admin_headers, json={"name": "p", "destination": "ftp://x/y"}
    )
    assert bad.status_code == 400 and bad.json()["field"] == "destination"
    bad = client.post(
        "/api/v1/pipelines",
        headers=admin_headers,
        json={"name": "p", "destination": "file:///tmp/x", "frequency": "weekly"},
    )
    assert bad.status_code == 400 and bad.json()["field"] == "frequency"
    assert (
        client.post("/api/v1/pipelines/nope/run", headers=admin_headers, json={}).status_code == 404
    )
    bad = client.post(
        "/api/v1/pipelines/nope/run", headers=admin_headers, json={"until": "yesterday"}
    )
    assert bad.status_code in (400, 404)
    created = client.post(
        "/api/v1/pipelines",
        headers=admin_headers,
        json={"name": "p", "destination": f"file://{tmp_path}/out"},
    )
    assert created.status_code == 201, created.text
    for dates, field in (
        ({"from_date": "2025-01-01", "to_date": "9999-12-31"}, "to_date"),  # was a 500
        ({"from_date": "0001-01-01"}, "from_date"),
    ):
        bad = client.post("/api/v1/pipelines/p/backfill", headers=admin_headers, json=dates)
        assert bad.status_code == 400 and bad.json()["field"] == field, bad.text


def test_a_local_destination_that_cannot_be_a_folder_is_a_400(
    client: TestClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    """A file where the folder should be, a name longer than the filesystem allows and a NUL
    byte were 503 (retry later) at `pipeline add`, though no retry can help."""
    (tmp_path / "a-file").write_text("")
    for destination in (
        f"file://{tmp_path}/a-file",
        f"file://{tmp_path}/{'x' * 300}",
        "file:///\x00",
    ):
        r = client.post(
            "/api/v1/pipelines",
            headers=admin_headers,
            json={"name": "p", "destination": destination},
        )
        assert r.status_code == 400 and "cannot write to" in r.json()["error"], r.text


def test_a_third_event_pipeline_names_the_two_there_are(
    client: TestClient, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    """The refusal said "already has 2 event pipelines" without saying which."""
    for name, data in (("lake", "events"), ("people", "people"), ("raw", "events")):
        created = client.post(
            "/api/v1/pipelines",
            headers=admin_headers,
            json={"name": name, "destination": f"file://{tmp_path}/{name}", "data": data},
        )
        assert created.status_code == 201, created.text
    third = client.post(
        "/api/v1/pipelines",
        headers=admin_headers,
        json={"name": "third", "destination": f"file://{tmp_path}/third"},
    )
    assert third.status_code == 409, third.text
    error = third.json()["error"]
    assert "2 event pipelines, 'lake', 'raw' (at most 2)" in error, error
    assert "`driftline pipeline delete NAME`" in error and "people" not in error


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.dictionaries(
        st.sampled_from(
            ["name", "destination", "data", "frequency", "sync", "from_date", "until", "max_steps"]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-5, 10**12),
            st.text(max_size=40),
            st.lists(st.integers(), max_size=3),
        ),
    )
)
def test_fuzzed_bodies_never_500(
    client: TestClient, admin_headers: dict[str, str], body: dict[str, object]
) -> None:
    for method, path in (
        ("post", "/api/v1/pipelines"),
        ("post", "/api/v1/pipelines/x/run"),
        ("post", "/api/v1/pipelines/x/backfill"),
    ):
        response = getattr(client, method)(path, headers=admin_headers, json=body)
        assert response.status_code < 500, (path, body, response.text)
    client.delete("/api/v1/pipelines/x", headers=admin_headers)
    if isinstance(body.get("name"), str):
        name = urllib.parse.quote(str(body["name"]), safe="")
        client.delete(f"/api/v1/pipelines/{name}", headers=admin_headers)


def cli(*args: str, data_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "driftline", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.e2e
def test_cli_without_and_with_a_server(tmp_path: Path, day: dt.datetime) -> None:
    from tests.conftest import start_server

    data_dir = tmp_path / "data"
    with DuckDBStore(data_dir) as store:
        store.create_project("default")
        store.apply([AppendEvents(make_events(200, day, dt.timedelta(days=1)))])
    out = tmp_path / "out"
    cli(
        "pipeline",
        "add",
        "p",
        "--destination",
        f"file://{out}",
        "--frequency",
        "hourly",
        "--from",
        (day - dt.timedelta(days=1)).date().isoformat(),
        data_dir=data_dir,
    )
    cli("pipeline", "run", "p", data_dir=data_dir)
    listed = json.loads(cli("pipeline", "list", "--format", "json", data_dir=data_dir).stdout)
    assert listed[0]["name"] == "p" and listed[0]["backfill"] is None
    history = json.loads(
        cli("pipeline", "history", "p", "--format", "json", data_dir=data_dir).stdout
    )
    assert sum(h["events_exported"] for h in history) == 200
    bad = cli("pipeline", "add", "q", "--destination", "nowhere", data_dir=data_dir, check=False)
    assert (
        bad.returncode == 1
        and bad.stderr.startswith("error:")
        and len(bad.stderr.strip().splitlines()) == 1
    )
    server = start_server(data_dir)
    try:
        # the server owns the store now: the same commands go through it
        backfill = cli(
            "pipeline",
            "backfill",
            "p",
            "--from",
            (day - dt.timedelta(days=3)).date().isoformat(),
            data_dir=data_dir,
        )
        assert "nothing new" in backfill.stdout or "backfill wrote" in backfill.stdout
        history = json.loads(
            cli("pipeline", "history", "p", "--format", "json", data_dir=data_dir).stdout
        )
        assert sum(h["events_exported"] for h in history) == 200
        cli("pipeline", "delete", "p", data_dir=data_dir)
    finally:
        server.stop()
