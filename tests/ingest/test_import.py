"""/import: JSON and NDJSON bodies, gzip, strict validation with failed_records, partial
success, credentials, the Python SDK's form body, limits, and back-pressure."""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from ingest_readback import event, stored_events

from driftline.config import load_settings
from driftline.model import Project
from driftline.server import create_app
from driftline.store import DuckDBStore


def ev(name: str, i: int, **props: object) -> dict[str, object]:
    base: dict[str, object] = {
        "time": 1_700_000_000 + i,
        "distinct_id": f"u{i}",
        "$insert_id": f"id-{i}",
    }
    return event(name, None, **{**base, **props})


def test_json_array_all_valid(client: TestClient, project: Project, store: DuckDBStore) -> None:
    r = client.post(
        "/import?strict=1", json=[ev("A", i) for i in range(3)], auth=(project.secret, "")
    )
    assert r.status_code == 200
    assert r.json() == {"code": 200, "num_records_imported": 3, "status": "OK"}
    rows = stored_events(store)
    assert [e["time_ms"] for e in rows] == [1_700_000_000_000, 1_700_000_001_000, 1_700_000_002_000]
    assert all(e["properties"]["$import"] is True for e in rows)
    assert all(e["origin"] == "import" for e in rows)


def test_ndjson_gzip_milliseconds_and_token_auth(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    lines = [ev("A", 0, time=1_700_000_000_123), ev("B", 1, time=1_700_000_001.5)]
    body = gzip.compress("\n".join(json.dumps(x) for x in lines).encode() + b"\n")
    r = client.post(
        "/import",
        content=body,
        headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
        auth=(project.token, ""),
    )
    assert r.json()["num_records_imported"] == 2
    assert [e["time_ms"] for e in stored_events(store)] == [
        1_700_000_000_123,
        1_700_001_001_500 - 1_000_000,
    ]


def test_partial_success_reports_each_failed_record(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    batch = [
        ev("ok", 0),
        ev("t", 1, time="yesterday"),
        ev("old", 2, time=100),
        ev("iid", 3, **{"$insert_id": "has spaces!"}),
        ev("did", 4, distinct_id="null"),
        ev("future", 5, time=time.time() + 7200),
        {"event": "noprops"},
        ev("ok2", 7),
        ev("missing iid", 8, **{"$insert_id": None}),
    ]
    r = client.post("/import?strict=1", json=batch, auth=(project.secret, ""))
    assert r.status_code == 400
    doc = r.json()
    assert doc["code"] == 400 and doc["status"] == "Bad Request"
    assert doc["error"] == "some data points in the request failed validation"
    assert doc["num_records_imported"] == 2
    assert [(f["index"], f["field"]) for f in doc["failed_records"]] == [
        (1, "properties.time"),
        (2, "properties.time"),
        (3, "properties.$insert_id"),
        (4, "properties.distinct_id"),
        (5, "properties.time"),
        (6, "properties"),
        (8, "properties.$insert_id"),
    ]
    assert doc["failed_records"][2]["insert_id"] == "has spaces!"
    assert [e["event"] for e in stored_events(store)] == ["ok", "ok2"]


def test_future_within_an_hour_is_clamped_to_now(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    before = time.time() * 1000
    client.post("/import", json=[ev("soon", 0, time=time.time() + 1800)], auth=(project.secret, ""))
    (row,) = stored_events(store)
    assert before - 1000 <= row["time_ms"] <= time.time() * 1000 + 1000


def test_strict_0_stores_valid_records_and_answers_200(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    batch = [ev("ok", 0, **{"$insert_id": None}), ev("bad", 1, time="x")]
    r = client.post("/import?strict=0", json=batch, auth=(project.secret, ""))
    assert r.json() == {"code": 200, "num_records_imported": 1, "status": "OK"}
    client.post("/import?strict=0", json=batch, auth=(project.secret, ""))
    assert len(stored_events(store)) == 1  # the generated insert id is stable: no double


def test_duplicates_count_once(client: TestClient, project: Project, store: DuckDBStore) -> None:
    for _ in range(3):
        client.post("/import", json=[ev("A", 1), ev("A", 1, extra=2)], auth=(project.secret, ""))
    (row,) = stored_events(store)
    assert row["properties"]["extra"] == 2


def test_credentials(client: TestClient, project: Project, store: DuckDBStore) -> None:
    body = [ev("A", 0)]
    for auth in [None, ("wrong", ""), (project.secret + "x", "")]:
        r = client.post("/import", json=body, auth=auth)
        assert r.status_code == 401
        assert r.json() == {"code": 401, "error": "Invalid credentials", "status": "Unauthorized"}
    other = store.create_project("other")
    r = client.post(f"/import?project_id={other.id}", json=body, auth=("svc-user", project.secret))
    assert r.status_code == 401  # a secret opens its own project only
    r = client.post(
        f"/import?project_id={project.id}", json=body, auth=("svc-user", project.secret)
    )
    assert r.status_code == 200
    r = client.post(f"/import?project_id={other.id}", json=[ev("B", 1)], auth=(other.secret, ""))
    assert r.status_code == 200
    assert [e["event"] for e in stored_events(store, other.id)] == ["B"]
    assert [e["event"] for e in stored_events(store, project.id)] == ["A"]


def test_python_sdk_form_with_verbose(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    data = json.dumps([ev("A", 0)], separators=(",", ":"))
    r = client.post(
        "/import",
        data={"data": data, "verbose": "1", "ip": "0", "api_key": "k"},
        auth=(project.secret, ""),
    )
    assert r.json() == {"status": 1, "error": None}
    r = client.post(
        "/import",
        data={"data": json.dumps([ev("A", 0, time=5)]), "verbose": "1"},
        auth=(project.secret, ""),
    )
    assert (
        r.status_code == 400 and r.json()["status"] == 0 and "properties.time" in r.json()["error"]
    )


def test_body_errors_are_400_with_a_field(client: TestClient, project: Project) -> None:
    auth = (project.secret, "")
    for content, needle in [(b"", "body"), (b"[", "body"), (b"[]", "data"), (b"42", "body")]:
        r = client.post(
            "/import", content=content, headers={"Content-Type": "application/json"}, auth=auth
        )
        assert r.status_code == 400, content
        assert r.json()["code"] == 400
        assert needle in r.json()["error"], (content, r.json())
    r = client.post(
        "/import", content=b"\x1f\x8bgarbage", headers={"Content-Encoding": "gzip"}, auth=auth
    )
    assert r.status_code == 400 and "gzip" in r.json()["error"]
    r = client.post("/import", json=[ev("A", i) for i in range(2001)], auth=auth)
    assert r.status_code == 400 and "2000" in r.json()["error"]


def test_request_size_limit_is_configurable(
    data_dir: Path, store: DuckDBStore, project: Project
) -> None:
    app = create_app(load_settings(data_dir=data_dir, max_request_bytes=1000), store=store)
    with TestClient(app) as c:
        r = c.post(
            "/import",
            json=[ev("A", i, pad="x" * 200) for i in range(10)],
            auth=(project.secret, ""),
        )
    assert r.status_code == 413
    assert r.json() == {
        "code": 413,
        "error": "request exceeds max limit of 1000 bytes",
        "status": "Request Entity Too Large",
    }


def test_backpressure_answers_429_with_retry_after(
    data_dir: Path, store: DuckDBStore, project: Project
) -> None:
    app = create_app(load_settings(data_dir=data_dir, writer_max_pending_rows=5), store=store)
    auth = (project.secret, "")
    with TestClient(app) as c:
        # hold the store's commit lock: the first request's batch waits in the writer
        store._write_lock.acquire()
        first: dict[str, httpx.Response] = {}
        t = threading.Thread(
            target=lambda: first.update(
                r=c.post("/import", json=[ev("A", i) for i in range(5)], auth=auth)
            )
        )
        t.start()
        deadline = time.monotonic() + 10
        while app.state.driftline.writer.pending_rows < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        r = c.post("/import", json=[ev("B", 9)], auth=auth)
        r2 = c.post("/track", data={"data": json.dumps(event("C", project, distinct_id="u"))})
        store._write_lock.release()
        t.join(10)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert r.json() == {
        "code": 429,
        "error": "Project exceeded rate limits. Please retry the request with exponential backoff.",
        "status": "Too Many Requests",
    }
    assert r2.status_code == 429 and r2.headers["retry-after"] == "1"
    assert first["r"].status_code == 200
    assert [e["event"] for e in stored_events(store)] == ["A"] * 5


@pytest.mark.parametrize("path", ["/import/", "/track/", "/engage/", "/groups/"])
def test_trailing_slash_routes_exist(client: TestClient, path: str) -> None:
    r = client.post(path, json=[{}])
    assert r.status_code in (400, 401)


@pytest.mark.parametrize("escaped_quote", [False, True])
def test_long_strings_in_a_large_batch_are_cut_to_255_characters(
    client: TestClient, project: Project, store: DuckDBStore, escaped_quote: bool
) -> None:
    """Large bodies are checked for long strings another way than small ones."""
    batch = [ev("A", i, plan="free", page=f"/p/{i}") for i in range(400)]
    # with a quote inside, no stretch between two quote characters is longer than 255
    note = "y" * 200 + '"' + "y" * 200 if escaped_quote else "y" * 300
    batch[-1] = ev("A", 399, note=note)
    body = json.dumps(batch).encode()
    assert len(body) > 40_000
    r = client.post("/import?strict=1", content=body, auth=(project.secret, ""))
    assert r.status_code == 200, r.text
    rows = {e["insert_id"]: e for e in stored_events(store)}
    assert len(rows) == 400
    assert rows["id-399"]["properties"]["note"] == note[:255]
