"""/engage and /groups: every operation, applied in order, history, and bad updates."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from ingest_readback import group, profile

from driftline.model import Project
from driftline.store import DuckDBStore


def send(
    client: TestClient, path: str, updates: list[dict[str, object]], **params: str
) -> dict[str, object]:
    r = client.post(path, data={"data": json.dumps(updates), "verbose": "1", **params})
    return {"status_code": r.status_code, **r.json()}


def test_every_operation_in_order(client: TestClient, project: Project, store: DuckDBStore) -> None:
    u = {"$token": project.token, "$distinct_id": "u1", "$ignore_time": True}
    r = send(
        client,
        "/engage",
        [
            {**u, "$set": {"name": "Ada", "plan": "free", "tags": ["a"]}},
            {**u, "$set_once": {"plan": "pro", "first_seen": "2024-01-01"}},
            {**u, "$add": {"logins": 2}},
            {**u, "$add": {"logins": -1, "credit": 1.5}},
            {**u, "$union": {"tags": ["a", "b"], "new": [1]}},
            {**u, "$append": {"tags": "c", "events": {"x": 1}}},
            {**u, "$remove": {"tags": "a"}},
            {**u, "$unset": ["first_seen"]},
            {**u, "$set": {"name": "Ada L."}},
        ],
    )
    assert r == {"status_code": 200, "status": 1, "error": None}
    assert profile(store, "u1") == {
        "name": "Ada L.",
        "plan": "free",
        "tags": ["b", "c"],
        "logins": 1,
        "credit": 1.5,
        "new": [1],
        "events": [{"x": 1}],
    }


def test_delete_last_seen_and_separate_requests(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    u = {"$token": project.token, "$distinct_id": "u2"}
    send(client, "/engage", [{**u, "$time": 1_700_000_000, "$set": {"a": 1}}])
    assert profile(store, "u2") == {"a": 1, "$last_seen": "2023-11-14T22:13:20"}
    send(client, "/engage", [{**u, "$delete": ""}])
    assert profile(store, "u2") is None
    send(client, "/engage", [{**u, "$unset": ["a"]}, {**u, "$remove": {"a": 1}}])
    assert profile(store, "u2") is None  # removing from nothing creates nothing


def test_history_when_the_project_keeps_it(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    store._conn.execute(
        "UPDATE projects SET keep_profile_history = TRUE WHERE id = ?", [project.id]
    )
    store._projects = None
    u = {"$token": project.token, "$distinct_id": "h1", "$ignore_time": True}
    send(client, "/engage", [{**u, "$set": {"v": 1}}])
    send(client, "/engage", [{**u, "$set": {"v": 2}}])
    send(client, "/engage", [{**u, "$set": {"v": 2}}])  # no change: no new version
    send(client, "/engage", [{**u, "$delete": None}])
    rows = store.query_rows(
        "SELECT CAST(properties AS VARCHAR), valid_to IS NULL FROM profile_history "
        "WHERE distinct_id = 'h1' ORDER BY valid_from"
    )
    assert [(json.loads(p), open_) for p, open_ in rows] == [({"v": 1}, False), ({"v": 2}, False)]


def test_invalid_updates_are_reported_valid_ones_applied(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    t = project.token
    r = send(
        client,
        "/engage",
        [
            {"$token": t, "$distinct_id": "ok", "$set": {"a": 1}},
            {"$token": "nope", "$distinct_id": "x", "$set": {"a": 1}},
            {"$token": t, "$distinct_id": "x", "$add": {"a": "one"}},
            {"$token": t, "$distinct_id": "x"},
            {"$token": t, "$distinct_id": "undefined", "$set": {}},
            {"$token": t, "$distinct_id": "x", "$unset": []},
            "not an object",
        ],
    )
    assert r["status"] == 1
    assert [(f["index"], f["field"]) for f in r["failed_records"]] == [  # type: ignore[union-attr]
        (1, "$token"),
        (2, "$add.a"),
        (3, "operation"),
        (4, "$distinct_id"),
        (5, "$unset"),
        (6, "update"),
    ]
    assert profile(store, "ok") is not None
    r = send(client, "/engage", [{"$token": t, "$distinct_id": "x", "$add": {"a": "one"}}])
    assert r["status_code"] == 400 and r["status"] == 0 and "$add.a" in str(r["error"])


def test_profile_geolocation_from_request(
    geo_client: TestClient, project: Project, store: DuckDBStore
) -> None:
    u = {"$token": project.token, "$distinct_id": "g"}
    send(geo_client, "/engage", [{**u, "$set": {"a": 1}}])
    assert profile(store, "g")["$city"] == "Berlin"  # type: ignore[index]
    send(
        geo_client,
        "/engage",
        [{"$token": project.token, "$distinct_id": "g2", "$set": {"a": 1}}],
        ip="0",
    )
    assert "$city" not in profile(store, "g2")  # type: ignore[operator]


def test_groups(client: TestClient, project: Project, store: DuckDBStore) -> None:
    g = {"$token": project.token, "$group_key": "company", "$group_id": "acme"}
    r = send(
        client,
        "/groups",
        [
            {**g, "$set": {"name": "Acme", "seats": 5}},
            {**g, "$set_once": {"name": "Other", "plan": "pro"}},
            {**g, "$union": {"domains": ["acme.com"]}},
            {**g, "$remove": {"domains": "acme.com"}},
            {**g, "$unset": ["seats"]},
        ],
    )
    assert r["status"] == 1
    assert group(store, "company", "acme") == {"name": "Acme", "plan": "pro", "domains": []}
    send(client, "/groups", [{**g, "$delete": ""}])
    assert group(store, "company", "acme") is None
    r = send(
        client, "/groups", [{"$token": project.token, "$group_key": "company", "$set": {"a": 1}}]
    )
    assert r["status_code"] == 400 and "$group_id" in str(r["error"])
