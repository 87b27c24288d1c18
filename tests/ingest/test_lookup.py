"""PUT /lookup-tables/{id}: typed values, whole-or-nothing replacement, errors."""

from __future__ import annotations

import gzip
import json

from fastapi.testclient import TestClient

from driftline.model import Project
from driftline.store import DuckDBStore

CSV = b"""sku,price,qty,active,launched,tiers,name
A-1,19.99,3,TRUE,2021-08-21T05:36:01Z,"[""Free"",""Paid""]","Widget, large"
B-2,5,,false,2021-08-21T07:36:01+02:00,,plain
"""


def rows(store: DuckDBStore, table: str) -> dict[str, dict[str, object]]:
    got = store.query_rows(
        "SELECT row_id, CAST(properties AS VARCHAR) FROM lookup_rows WHERE table_id = ?", [table]
    )
    return {r: json.loads(p) for r, p in got}


def test_replace_with_typed_values(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    r = client.put(
        "/lookup-tables/skus?property=sku",
        content=CSV,
        headers={"Content-Type": "text/csv"},
        auth=(project.secret, ""),
    )
    assert r.json() == {"code": 200, "status": "OK"}
    assert rows(store, "skus") == {
        "A-1": {
            "price": 19.99,
            "qty": 3,
            "active": True,
            "launched": "2021-08-21T05:36:01",
            "tiers": ["Free", "Paid"],
            "name": "Widget, large",
        },
        "B-2": {"price": 5, "active": False, "launched": "2021-08-21T05:36:01", "name": "plain"},
    }
    listing = client.get("/lookup-tables", auth=(project.secret, "")).json()
    assert listing["results"] == [{"id": "skus", "name": "skus", "property": "sku"}]


def test_invalid_upload_keeps_the_old_table(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    auth = (project.secret, "")
    client.put("/lookup-tables/skus", content=CSV, auth=auth)
    bad = b"sku,price\nA,1\nA,2\n,3\nD,4\n"
    r = client.put(
        "/lookup-tables/skus",
        content=gzip.compress(bad),
        headers={"Content-Encoding": "gzip"},
        auth=auth,
    )
    assert r.status_code == 400
    doc = r.json()
    assert doc["code"] == 400 and doc["status"] == "Bad Request"
    assert doc["failed_records"] == [
        {"index": 2, "message": "invalid row: row indexes 1 and 2 have the same primary key"},
        {"index": 3, "message": "primary key is required and cannot be blank"},
    ]
    assert set(rows(store, "skus")) == {"A-1", "B-2"}
    r = client.put("/lookup-tables/skus", content=b"sku,price\nA,1,9\nB,2\n", auth=auth)
    assert r.json()["failed_records"] == [
        {"index": 1, "message": "invalid row: wrong number of fields"}
    ]
    r = client.put("/lookup-tables/skus", content=b"sku,sku\nA,1\n", auth=auth)
    assert r.status_code == 400 and "header" in r.json()["error"]


def test_at_most_ten_errors_and_credentials(client: TestClient, project: Project) -> None:
    body = b"id,v\n" + b"".join(b",%d\n" % i for i in range(30))
    r = client.put("/lookup-tables/t", content=body, auth=(project.secret, ""))
    assert len(r.json()["failed_records"]) == 10
    r = client.put("/lookup-tables/t", content=CSV, auth=(project.token, ""))
    assert r.status_code == 401
