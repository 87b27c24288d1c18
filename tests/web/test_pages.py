"""The web UI in-process over the demo data: login and sessions, CSRF, every page, CSV
downloads, shareable report URLs, bad input answered on the page, and no credential shown."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from driftline.model import Project
from driftline.server import ops
from driftline.store import DuckDBStore, GroupCommitWriter

PAGES = ("/insights", "/funnels", "/retention", "/data/events", "/data/events?event=Purchase",
         "/data/profiles", "/data/live", "/connections/warehouses", "/connections/syncs",
         "/connections/syncs/new", "/connections/pipelines", "/connections/bad-rows")  # fmt: skip
FUNNEL = "/funnels?step=Sign+Up&step=Purchase&range=last_month&window=7&window_unit=days&by=plan"


@pytest.fixture
def demo_store(store: DuckDBStore) -> DuckDBStore:
    writer = GroupCommitWriter(store)
    end = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    ops.run(
        "demo.load",
        ops.Context(store, writer),
        {"project_id": 1, "events": 20_000, "seed": 7, "end_date": end},
    )
    writer.close()
    return store


@pytest.fixture
def ui(client: TestClient, demo_store: DuckDBStore, project: Project) -> Iterator[TestClient]:
    answer = client.post("/login", data={"secret": project.secret}, follow_redirects=False)
    assert answer.status_code == 303
    yield client


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found
    return found.group(1)


def test_pages_need_a_session_and_the_login_keeps_the_target(client: TestClient) -> None:
    answer = client.get("/funnels?step=A", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/funnels")
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_a_wrong_secret_is_refused_and_the_cookie_is_signed_and_httponly(
    client: TestClient, project: Project
) -> None:
    wrong = client.post("/login", data={"secret": "nope"}, follow_redirects=False)
    assert wrong.status_code == 401 and "not a project secret" in wrong.text
    ok = client.post(
        "/login", data={"secret": project.secret, "next": "/retention"}, follow_redirects=False
    )
    assert ok.headers["location"] == "/retention"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert project.secret not in cookie
    value = client.cookies["driftline_session"]
    client.cookies.clear()
    client.cookies.set("driftline_session", value[:-2] + ("00" if value[-2:] != "00" else "11"))
    assert client.get("/insights", follow_redirects=False).status_code == 303


def test_an_offsite_redirect_after_login_is_not_followed(
    client: TestClient, project: Project
) -> None:
    ok = client.post(
        "/login", data={"secret": project.secret, "next": "//evil.example"}, follow_redirects=False
    )
    assert ok.headers["location"] == "/insights"


def test_every_page_renders_without_a_credential(ui: TestClient, project: Project) -> None:
    for path in PAGES:
        answer = ui.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert project.secret not in answer.text and project.token not in answer.text, path
        assert '<script src="http' not in answer.text and "cdn" not in answer.text.lower(), path


def test_static_assets_are_served_by_driftline(ui: TestClient) -> None:
    for name in ("app.css", "app.js", "uPlot.js", "uPlot.css"):
        answer = ui.get(f"/static/{name}")
        assert answer.status_code == 200 and len(answer.content) > 500, name
    assert ui.get("/static/../session.py").status_code == 404


def test_the_funnel_answers_the_question_by_plan(ui: TestClient) -> None:
    page = ui.get(FUNNEL)
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.text))
    assert re.search(
        r"Of [\d,]+ users who did Sign Up from \S+ to \S+, [\d,]+ \([\d.]+%\) did Purchase within 7 days",
        text,
    ), text[:2000]
    assert re.search(r"free: [\d,]+ of [\d,]+ \([\d.]+%\)", text)
    assert "Conversion by plan" in text
    csv = ui.get(FUNNEL + "&format=csv&table=0")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("segment,1. Sign Up,2. Purchase,conversion")
    assert {line.split(",")[0] for line in lines[1:]} >= {"All users", "free"}
    entered = int(lines[1].split(",")[1])
    assert entered == sum(int(line.split(",")[1]) for line in lines[2:])


def test_the_example_link_on_the_funnel_page_is_the_question(ui: TestClient) -> None:
    page = ui.get("/funnels").text
    assert FUNNEL.replace("&", "&amp;") in page


def test_bad_report_input_is_a_400_on_the_page(ui: TestClient) -> None:
    answer = ui.get("/insights?event=Purchase&unit=fortnight")
    assert answer.status_code == 400 and "unit" in answer.text
    answer = ui.get("/funnels?step=Sign+Up&step=Purchase&where=plan+%3D%3D%3D")
    assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert ui.get("/funnels?step=Sign+Up").status_code == 400


def test_insights_and_retention_tables_download_as_csv(ui: TestClient) -> None:
    csv = ui.get("/insights?event=Purchase&range=30d&unit=week&on=plan&format=csv&table=0")
    assert csv.status_code == 200 and csv.text.startswith("segment,")
    heat = ui.get("/retention?born_event=Sign+Up&unit=week&format=csv&table=0")
    assert heat.text.startswith("cohort,users,week 0")
    assert ui.get("/data/events?format=csv&table=0").text.startswith("event,events,users,last seen")
    assert ui.get("/insights?format=csv&table=9").status_code == 400


def test_forms_without_the_csrf_token_are_refused(ui: TestClient) -> None:
    refused = ui.post("/connections/warehouses", data={"name": "w", "url": "duckdb:///tmp/x.db"})
    assert refused.status_code == 403
    page = ui.get("/connections/warehouses").text
    other = ui.post("/connections/warehouses", data={"name": "w", "url": "duckdb:///tmp/x.db", "csrf": csrf(page)},
                    headers={"origin": "http://evil.example"})  # fmt: skip
    assert other.status_code == 403


def test_a_warehouse_error_names_the_problem_without_echoing_the_url(ui: TestClient) -> None:
    token = csrf(ui.get("/connections/warehouses").text)
    answer = ui.post(
        "/connections/warehouses",
        data={"name": "bad name!", "url": "postgresql://u:s3cr3t@h/db", "csrf": token},
    )
    assert answer.status_code == 400 and "warehouse name" in answer.text
    assert "s3cr3t" not in answer.text


def test_the_project_switcher_only_opens_projects_of_the_session(
    ui: TestClient, demo_store: DuckDBStore
) -> None:
    other = demo_store.create_project("second")
    page = ui.get("/insights").text
    assert "second" not in page
    token = csrf(page)
    assert ui.post("/switch", data={"project": str(other.id), "csrf": token}).status_code == 403
    ui.post("/login", data={"secret": other.secret})
    page = ui.get("/insights").text
    assert re.search(r'<option value="2" selected>second', page)
    ui.post("/switch", data={"project": "1", "csrf": csrf(page)})
    assert re.search(r'<option value="1" selected>default', ui.get("/data/events").text)


def test_the_live_view_polls_json(ui: TestClient) -> None:
    rows = ui.get("/data/live.json").json()
    assert len(rows) == 50 and all(len(r) == 5 for r in rows)


def test_logout_ends_the_session(ui: TestClient) -> None:
    token = csrf(ui.get("/insights").text)
    ui.post("/logout", data={"csrf": token})
    assert ui.get("/insights", follow_redirects=False).status_code == 303


def test_the_one_time_link_logs_in_once(client: TestClient, project: Project) -> None:
    import time

    client.app.state.web_login_once = ("link-secret", time.time())  # type: ignore[attr-defined]
    assert client.get("/login?once=wrong").status_code == 400
    first = client.get("/login?once=link-secret", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/insights"
    assert client.get("/data/events").status_code == 200
    client.cookies.clear()
    again = client.get("/login?once=link-secret")
    assert again.status_code == 400 and "used or has expired" in again.text
