"""/track as the SDKs call it: form data (JSON or base64), JSON bodies, GET, answers in
every style, the five-day window, the request's IP, and limits."""

from __future__ import annotations

import base64
import gzip
import json
import time

from fastapi.testclient import TestClient
from ingest_readback import event, stored_events

from driftline.model import Project
from driftline.store import DuckDBStore


def b64(doc: object) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def test_form_base64_batch_as_the_browser_sdk_sends_it(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    now = time.time()
    batch = [
        event("Page View", project, distinct_id="$device:d1", time=now, **{"$insert_id": "i1"}),
        event(
            "Sign Up",
            project,
            distinct_id="u1",
            time=now + 0.001,
            **{"$device_id": "d1", "$user_id": "u1", "$insert_id": "i2"},
        ),
    ]
    r = client.post("/track/?verbose=1&ip=1&_=123", data={"data": b64(batch)})
    assert r.status_code == 200
    assert r.json() == {"status": 1, "error": None}
    rows = stored_events(store)
    assert [(e["event"], e["distinct_id"], e["device_id"], e["user_id"]) for e in rows] == [
        ("Page View", "$device:d1", "d1", None),
        ("Sign Up", "u1", "d1", "u1"),
    ]
    assert rows[0]["time_ms"] == round(now * 1000)
    assert rows[0]["origin"] == "track"
    assert rows[0]["properties"]["$mp_api_endpoint"] == "testserver"
    # the device is resolved to the user retroactively
    resolved = store.query_rows(
        "SELECT DISTINCT resolved_distinct_id FROM events_resolved WHERE project_id = 1"
    )
    assert resolved == [("u1",)]


def test_form_json_single_object_plain_answer(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    r = client.post("/track", data={"data": json.dumps(event("A", project, distinct_id="u"))})
    assert (r.status_code, r.text) == (200, "1")
    (row,) = stored_events(store)
    assert row["event"] == "A"
    assert len(row["insert_id"]) == 32  # generated when the client sends none
    assert abs(row["time_ms"] - time.time() * 1000) < 60_000  # no time: received now


def test_json_body_and_gzip(client: TestClient, project: Project, store: DuckDBStore) -> None:
    body = gzip.compress(
        json.dumps([event("A", project, distinct_id="u", time=int(time.time()))]).encode()
    )
    r = client.post(
        "/track",
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert (r.status_code, r.text) == (200, "1")
    assert len(stored_events(store)) == 1


def test_get_with_img_and_jsonp(client: TestClient, project: Project, store: DuckDBStore) -> None:
    data = b64(event("A", project, distinct_id="u", time=int(time.time())))
    r = client.get(f"/track?data={data}&img=1")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/gif"
    assert r.content.startswith(b"GIF89a")
    r = client.get(f"/track?data={data}&callback=mp.cb_1")
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.text == "mp.cb_1(1)"
    r = client.get(f"/track?data={data}&callback=alert(1)//")
    assert r.status_code == 400
    assert "callback" in r.text


def test_events_older_than_five_days_are_dropped_silently(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    old = time.time() - 6 * 86400
    r = client.post(
        "/track?verbose=1",
        data={"data": json.dumps([event("Old", project, distinct_id="u", time=old)])},
    )
    assert r.json() == {"status": 1, "error": None}
    assert stored_events(store) == []


def test_invalid_records_are_reported_and_valid_ones_kept(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    batch = [
        event("Good", project, distinct_id="u"),
        event("Bad", project, distinct_id="undefined"),
        {"event": "No token", "properties": {"distinct_id": "u"}},
        event("Other token", None, distinct_id="u", token="nope"),
    ]
    r = client.post("/track?verbose=1", data={"data": json.dumps(batch)})
    assert r.status_code == 200
    doc = r.json()
    assert doc["status"] == 1
    assert [(f["index"], f["field"]) for f in doc["failed_records"]] == [
        (1, "properties.distinct_id"),
        (2, "properties.token"),
        (3, "properties.token"),
    ]
    assert [e["event"] for e in stored_events(store)] == ["Good"]


def test_nothing_valid_is_a_400_naming_the_field(client: TestClient, project: Project) -> None:
    r = client.post(
        "/track?verbose=1",
        data={"data": json.dumps([event("A", project, distinct_id="u", time=1)])},
    )
    assert r.status_code == 400
    assert r.json()["status"] == 0
    assert "properties.time" in r.json()["error"]
    r = client.post("/track", data={"data": "not json or base64 !!"})
    assert (r.status_code, r.text) == (400, "0")
    r = client.post("/track?verbose=1", data={"data": "bm90IGpzb24="})  # base64 of "not json"
    assert r.status_code == 400
    assert "data" in r.json()["error"]


def test_ip_1_derives_distinct_id_and_ip_property_is_never_stored(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    client.post("/track?ip=1", data={"data": json.dumps(event("A", project, ip="203.0.113.9"))})
    (row,) = stored_events(store)
    assert len(row["distinct_id"]) == 32
    assert "ip" not in row["properties"]


def test_geolocation_from_request_ip_and_ip_property(
    geo_client: TestClient, project: Project, store: DuckDBStore
) -> None:
    now = time.time()
    geo_client.post(
        "/track?ip=1", data={"data": json.dumps(event("Here", project, distinct_id="u", time=now))}
    )
    geo_client.post(
        "/track?ip=0",
        data={
            "data": json.dumps(
                event("There", project, distinct_id="u", time=now + 1, ip="198.51.100.4")
            )
        },
    )
    geo_client.post(
        "/track?ip=1",
        data={
            "data": json.dumps(
                event("Mine", project, distinct_id="u", time=now + 2, **{"$city": "Oslo"})
            )
        },
    )
    geo_client.post(
        "/track?ip=0",
        data={"data": json.dumps(event("None", project, distinct_id="u", time=now + 3))},
    )
    by_name = {e["event"]: e["properties"] for e in stored_events(store)}
    assert (
        by_name["Here"]["$city"],
        by_name["Here"]["$region"],
        by_name["Here"]["mp_country_code"],
    ) == ("Berlin", "Land Berlin", "DE")
    assert by_name["There"]["$city"] == "Lyon" and "ip" not in by_name["There"]
    assert by_name["Mine"]["$city"] == "Oslo"  # what the client sent wins
    assert by_name["Mine"]["mp_country_code"] == "DE"
    assert "$city" not in by_name["None"]


def test_long_strings_are_cut_to_255_characters(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    client.post(
        "/track",
        data={
            "data": json.dumps(
                event("A", project, distinct_id="u", note="é" * 300, nested={"s": "x" * 400})
            )
        },
    )
    (row,) = stored_events(store)
    assert row["properties"]["note"] == "é" * 255
    assert row["properties"]["nested"]["s"] == "x" * 255


def test_limits(client: TestClient, project: Project, store: DuckDBStore) -> None:
    too_many = [event("A", project, distinct_id="u")] * 2001
    r = client.post("/track?verbose=1", data={"data": json.dumps(too_many)})
    assert r.status_code == 400
    assert "2000" in r.json()["error"]
    huge = json.dumps([event("A", project, distinct_id="u", blob="x" * 200)] * 1000).encode()
    big = gzip.compress(huge * 60)  # 13 MB uncompressed, small on the wire
    r = client.post(
        "/track",
        content=big,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert stored_events(store) == []


def test_cors_for_the_browser(client: TestClient, project: Project) -> None:
    r = client.post(
        "/track/",
        data={"data": b64([event("A", project, distinct_id="u")])},
        headers={"Origin": "http://app.example"},
    )
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    r = client.options(
        "/track/",
        headers={
            "Origin": "http://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert r.status_code == 204
    assert "POST" in r.headers["access-control-allow-methods"]


def test_beacon_form_sent_as_text_plain(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    body = "data=" + b64([event("Unload", project, distinct_id="u")])
    r = client.post(
        "/track/?ip=1", content=body.encode(), headers={"Content-Type": "text/plain;charset=UTF-8"}
    )
    assert (r.status_code, r.text) == (200, "1")
    assert [e["event"] for e in stored_events(store)] == ["Unload"]
