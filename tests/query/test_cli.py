"""`driftline query ...` in-process (Typer's CliRunner) and through a running server."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftline.cli import app
from driftline.store import DuckDBStore
from tests.conftest import run_cli, start_server

from .conftest import load

CASE = {
    "profiles": {"u1": {"plan": "pro", "country": "US"}, "u2": {"plan": "free", "country": "DE"}},
    "lookups": [
        {"id": "skus", "name": "SKUs", "property": "sku", "rows": {"s1": {"category": "books"}}}
    ],
    "events": [
        {"e": "Sign Up", "t": "2025-01-06T10:00:00", "u": "u1", "p": {"plan": "pro"}},
        {"e": "Invite Sent", "t": "2025-01-06T11:00:00", "u": "u1"},
        {"e": "Purchase", "t": "2025-01-07T10:00:00", "u": "u1", "p": {"sku": "s1"}},
        {"e": "Sign Up", "t": "2025-01-07T10:00:00", "d": "d2", "p": {"plan": "free"}},
        {"e": "Invite Sent", "t": "2025-01-08T10:00:00", "d": "d2", "u": "u2"},
        {"e": "Log In", "t": "2025-01-14T10:00:00", "u": "u2"},
    ],
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    with DuckDBStore(path) as store:
        project = store.create_project("default")
        load(store, project, CASE)
    return path


def cli(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_funnel_by_plan_as_json_and_table(data_dir: Path) -> None:
    args = ["query", "funnel", "--steps", "Sign Up,Invite Sent,Purchase", "--from", "2025-01-06",
            "--to", "2025-01-12", "--by", "plan", "--unit", "week"]  # fmt: skip
    body = json.loads(cli(data_dir, *args, "--format", "json"))
    assert [s["count"] for s in body["steps"]] == [2, 2, 1]
    assert {k: [s["count"] for s in v] for k, v in body["segments"].items()} == {
        "pro": [1, 1, 1],
        "free": [1, 1, 0],
    }
    assert set(body["steps"][0]) >= {
        "event",
        "count",
        "step_conv_ratio",
        "overall_conv_ratio",
        "avg_time",
        "median_time",
    }
    table = cli(data_dir, *args)
    assert "Invite" in table and "50.0%" in table


def test_segmentation_by_lookup_column_as_csv(data_dir: Path) -> None:
    out = cli(data_dir, "query", "segmentation", "--event", "Purchase", "--from", "2025-01-06",
              "--to", "2025-01-08", "--on", "sku.category", "--format", "csv")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows == [
        {"date": "2025-01-06", "books": "0"},
        {"date": "2025-01-07", "books": "1"},
        {"date": "2025-01-08", "books": "0"},
    ]


def test_weekly_retention_by_country(data_dir: Path) -> None:
    out = cli(data_dir, "query", "retention", "--born-event", "Sign Up", "--event", "Log In",
              "--from", "2025-01-06", "--to", "2025-01-12", "--unit", "week", "--intervals", "2",
              "--on", "user.country", "--format", "json")  # fmt: skip
    body = json.loads(out)
    week = body["2025-01-06"]
    assert week["$overall"]["first"] == 2
    assert week["DE"]["counts"] == [0, 1]  # u2 signed up on a device, logged in 7 days later
    assert week["US"]["counts"] == [0, 0]


def test_profiles_listing(data_dir: Path) -> None:
    out = cli(data_dir, "query", "profiles", "--where", 'plan = "pro"', "--format", "json")
    assert [r["$distinct_id"] for r in json.loads(out)["results"]] == ["u1"]
    assert "u1" in cli(data_dir, "query", "profiles")


def test_bad_filter_is_one_line_error(data_dir: Path) -> None:
    proc = run_cli("query", "segmentation", "--event", "A", "--from", "2025-01-01", "--to", "2025-01-02",
                   "--where", "plan ==", data_dir=data_dir, check=False)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: where: expected a value")
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_query_through_a_running_server(data_dir: Path) -> None:
    server = start_server(data_dir)
    try:
        proc = run_cli("query", "funnel", "--steps", "Sign Up,Invite Sent", "--from", "2025-01-06",
                       "--to", "2025-01-12", "--format", "json", data_dir=data_dir)  # fmt: skip
        assert [s["count"] for s in json.loads(proc.stdout)["steps"]] == [2, 2]
    finally:
        server.stop()


@pytest.mark.e2e
def test_report_api_on_a_running_server_with_the_project_secret(data_dir: Path) -> None:
    import httpx

    with DuckDBStore(data_dir) as store:
        secret = store.get_project(1).secret
    server = start_server(data_dir)
    try:
        params = {
            "event": "Sign Up",
            "from_date": "2025-01-06",
            "to_date": "2025-01-07",
            "type": "unique",
        }
        r = httpx.get(f"{server.url}/api/query/segmentation", params=params, auth=(secret, ""))
        assert r.json()["data"]["values"] == {"Sign Up": {"2025-01-06": 1, "2025-01-07": 1}}
        assert httpx.get(f"{server.url}/api/query/segmentation", params=params).status_code == 401
    finally:
        server.stop()


def test_funnel_step_filter(data_dir: Path) -> None:
    out = cli(data_dir, "query", "funnel", "--steps", "Sign Up,Invite Sent", "--from", "2025-01-06",
              "--to", "2025-01-12", "--step-where", '1:plan = "pro"', "--format", "json")  # fmt: skip
    assert [s["count"] for s in json.loads(out)["steps"]] == [1, 1]


WEB = {"events": [{"e": "Page View", "t": "2025-01-06T09:00:00", "d": "w1"}]}


@pytest.fixture
def two_projects(data_dir: Path) -> Path:
    with DuckDBStore(data_dir) as store:
        load(store, store.create_project("web"), WEB)
    return data_dir


def test_events_lists_names_with_counts_per_project(two_projects: Path) -> None:
    proc = run_cli("query", "events", "--format", "json", data_dir=two_projects)
    rows = json.loads(proc.stdout)
    assert [(r["event"], r["count"], r["users"]) for r in rows] == [
        ("Invite Sent", 2, 2),
        ("Sign Up", 2, 2),
        ("Log In", 1, 1),
        ("Purchase", 1, 1),
    ]  # the device d2 counts as its user u2, as in reports
    assert rows[1]["first_seen"] == "2025-01-06T10:00:00.000Z"
    assert rows[1]["last_seen"] == "2025-01-07T10:00:00.000Z"
    # a date range counts only its days; another project sees only its own events
    ranged = run_cli("query", "events", "--from", "2025-01-07", "--to", "2025-01-08",
                     "--format", "csv", data_dir=two_projects)  # fmt: skip
    assert [(r["event"], r["count"]) for r in csv.DictReader(io.StringIO(ranged.stdout))] == [
        ("Invite Sent", "1"),
        ("Purchase", "1"),
        ("Sign Up", "1"),
    ]
    web = run_cli("query", "events", "-p", "web", "--format", "json", data_dir=two_projects)
    assert [(r["event"], r["count"]) for r in json.loads(web.stdout)] == [("Page View", 1)]


def test_unknown_event_warns_after_the_unchanged_result(two_projects: Path) -> None:
    span = ["--from", "2025-01-06", "--to", "2025-01-07", "--format", "json"]
    typo = run_cli("query", "segmentation", "--event", "Purchse", *span, data_dir=two_projects)
    assert json.loads(typo.stdout)["data"]["values"] == {
        "Purchse": {"2025-01-06": 0, "2025-01-07": 0}
    }
    assert typo.stderr.splitlines() == [
        "warning: no event named 'Purchse' in project 'default'; did you mean 'Purchase'? "
        "(driftline query events lists them)"
    ]
    # the wrong project: named in the warning; funnel and retention names are checked too
    funnel = run_cli("query", "funnel", "--steps", "Sign Up,Purchase", "-p", "web", *span,
                     data_dir=two_projects)  # fmt: skip
    assert [s["count"] for s in json.loads(funnel.stdout)["steps"]] == [0, 0]
    assert [line.split(";")[0] for line in funnel.stderr.splitlines()] == [
        "warning: no event named 'Sign Up' in project 'web' (driftline query events lists them)",
        "warning: no event named 'Purchase' in project 'web' (driftline query events lists them)",
    ]
    retention = run_cli("query", "retention", "--born-event", "sign up", "--event", "Log In",
                        *span, data_dir=two_projects)  # fmt: skip
    assert "did you mean 'Sign Up'?" in retention.stderr
    assert "'Log In'" not in retention.stderr


def test_no_warning_for_an_event_with_no_results_in_the_range(two_projects: Path) -> None:
    # Purchase exists (on 2025-01-07), just not in this range: no warning for it
    span = ["--from", "2025-01-01", "--to", "2025-01-02"]
    seg = run_cli("query", "segmentation", "--event", "Purchase", *span, data_dir=two_projects)
    assert seg.stderr == ""
    funnel = run_cli("query", "funnel", "--steps", "Purchase,Purchse", *span, "--format", "csv",
                     data_dir=two_projects)  # fmt: skip
    assert funnel.stdout.splitlines()[1:] == ["1,Purchase,0,1.0,1.0,,", "2,Purchse,0,0.0,0.0,,"]
    assert [line.split(";")[0] for line in funnel.stderr.splitlines()] == [
        "warning: no event named 'Purchse' in project 'default'"
    ]


@pytest.mark.e2e
def test_events_and_warning_through_a_running_server(two_projects: Path) -> None:
    server = start_server(two_projects)
    try:
        proc = run_cli("query", "events", "-p", "web", "--format", "json", data_dir=two_projects)
        assert [r["event"] for r in json.loads(proc.stdout)] == ["Page View"]
        typo = run_cli("query", "segmentation", "--event", "page view", "-p", "web", "--from",
                       "2025-01-06", "--to", "2025-01-06", data_dir=two_projects)  # fmt: skip
        assert typo.stderr.startswith(
            "warning: no event named 'page view' in project 'web'; did you mean 'Page View'?"
        )
    finally:
        server.stop()
