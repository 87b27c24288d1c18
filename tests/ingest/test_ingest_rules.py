"""Mixpanel's special ingestion rules: ``$ignore`` drops an event, hot distinct_ids are
remediated (``$hotshard_events``), and lookup tables have a replacement rate and a row cap."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ingest_readback import event, stored_events

from driftline.config import load_settings
from driftline.model import Project
from driftline.server import create_app
from driftline.store import DuckDBStore


@pytest.fixture
def strict_client(data_dir: Path, store: DuckDBStore) -> Iterator[TestClient]:
    """The app with small limits, so that tests can reach them."""
    settings = load_settings(
        data_dir=data_dir, hot_shard_limit=3, lookup_replacements_per_day=2, lookup_max_rows=5
    )
    with TestClient(create_app(settings, store=store)) as c:
        yield c


def test_ignore_property_drops_the_event_silently(
    client: TestClient, project: Project, store: DuckDBStore
) -> None:
    now = time.time()
    batch = [
        event("Kept", project, distinct_id="u1", time=now, **{"$insert_id": "a1"}),
        event("Gone", project, distinct_id="u1", time=now, **{"$insert_id": "a2", "$ignore": True}),
        # any value counts, as Mixpanel's "property present" rule has it
        event(
            "Gone too",
            project,
            distinct_id="u1",
            time=now,
            **{"$insert_id": "a3", "$ignore": False},
        ),
        # nested: not the reserved property
        event(
            "Nested",
            project,
            distinct_id="u1",
            time=now,
            **{"$insert_id": "a4", "o": {"$ignore": 1}},
        ),
    ]
    r = client.post("/track?verbose=1", data={"data": json.dumps(batch)})
    assert r.json() == {"status": 1, "error": None}
    assert sorted(e["event"] for e in stored_events(store)) == ["Kept", "Nested"]

    # /import: ignored events are neither imported nor failed
    only_ignored = [
        event("Gone", distinct_id="u2", time=now, **{"$insert_id": "b1", "$ignore": "yes"})
    ]
    r = client.post("/import?strict=1", json=only_ignored, auth=(project.secret, ""))
    assert r.status_code == 200
    assert r.json() == {"code": 200, "num_records_imported": 0, "status": "OK"}
    # the Python SDK's form /import answers success too
    r = client.post(
        "/import",
        data={"data": json.dumps(only_ignored), "verbose": "1"},
        auth=(project.secret, ""),
    )
    assert r.json() == {"status": 1, "error": None}
    assert len(stored_events(store)) == 2


def test_hot_distinct_id_is_remediated_past_the_limit(
    strict_client: TestClient, project: Project, store: DuckDBStore
) -> None:
    day = (int(time.time()) // 86_400 - 1) * 86_400  # yesterday, 00:00 UTC
    batch = [
        event("Play", distinct_id="bot", time=day + i, **{"$insert_id": f"h{i}", "n": i})
        for i in range(5)
    ]
    batch.append(event("Play", distinct_id="human", time=day + 9, **{"$insert_id": "p1"}))
    batch.append(event("Play", distinct_id="bot", time=day + 86_400 + 5, **{"$insert_id": "h9"}))
    r = strict_client.post("/import?strict=1", json=batch, auth=(project.secret, ""))
    assert r.json()["num_records_imported"] == 7
    rows = sorted(stored_events(store), key=lambda e: e["insert_id"])
    by_id = {e["insert_id"]: e for e in rows}
    # the first three events of the bot's day are kept as sent
    for i in range(3):
        assert (by_id[f"h{i}"]["event"], by_id[f"h{i}"]["distinct_id"]) == ("Play", "bot")
    # the next ones are stored, renamed and anonymous, originals in properties
    for i in (3, 4):
        hot = by_id[f"h{i}"]
        assert (hot["event"], hot["distinct_id"], hot["user_id"]) == ("$hotshard_events", "", None)
        assert hot["properties"]["mp_original_event_name"] == "Play"
        assert hot["properties"]["mp_original_distinct_id"] == "bot"
        assert hot["properties"]["n"] == i
    # other identifiers and other days count on their own
    assert by_id["p1"]["distinct_id"] == "human"
    assert by_id["h9"]["distinct_id"] == "bot"
    # counts carry across requests
    more = [
        event("Play", project, distinct_id="bot", time=day + 86_400 + 6, **{"$insert_id": f"k{i}"})
        for i in range(3)
    ]
    strict_client.post("/track", data={"data": json.dumps(more)})
    names = {e["insert_id"]: e["event"] for e in stored_events(store)}
    assert [names["k0"], names["k1"], names["k2"]] == ["Play", "Play", "$hotshard_events"]


def test_hot_shard_counts_are_seeded_from_the_store(
    data_dir: Path, store: DuckDBStore, project: Project
) -> None:
    from driftline.ingest.hotshard import SEED_MIN, HotShards

    hot = HotShards(limit=SEED_MIN + 1)
    day = int(time.time()) // 86_400 * 86_400 * 1000
    hot.seed([(project.id, "bot", day // 86_400_000, SEED_MIN)])
    assert hot.counts == {(project.id, "bot", day // 86_400_000): SEED_MIN}
    assert "HAVING count(*) >= 1000" in " ".join(HotShards.seed_sql().split())
    # the seeding query runs against a real store
    store.query_rows(HotShards.seed_sql())


CSV = b"id,name\na,1\nb,2\n"


def test_lookup_table_replacements_are_limited_per_day(
    strict_client: TestClient, project: Project
) -> None:
    auth = (project.secret, "")
    for _ in range(2):
        assert strict_client.put("/lookup-tables/t1", content=CSV, auth=auth).status_code == 200
    r = strict_client.put("/lookup-tables/t2", content=CSV, auth=auth)
    assert r.status_code == 429
    body = r.json()
    assert (body["code"], body["status"]) == (429, "Too Many Requests")
    assert "limit is 2" in body["error"]
    assert int(r.headers["Retry-After"]) > 0
    # a rejected call replaced nothing
    listing = strict_client.get("/lookup-tables", auth=auth).json()["results"]
    assert [t["id"] for t in listing] == ["t1"]


def test_lookup_rows_are_capped_per_project(
    strict_client: TestClient, project: Project, store: DuckDBStore
) -> None:
    auth = (project.secret, "")
    assert strict_client.put("/lookup-tables/t1", content=CSV, auth=auth).status_code == 200
    big = b"id,name\n" + b"".join(f"r{i},{i}\n".encode() for i in range(4))
    r = strict_client.put("/lookup-tables/t2", content=big, auth=auth)
    assert r.status_code == 413
    body = r.json()
    assert (body["code"], body["status"]) == (413, "Request Entity Too Large")
    assert "at most 5 rows" in body["error"]
    # replacing a table counts its new rows, not its old ones
    three = b"id,name\n" + b"".join(f"r{i},{i}\n".encode() for i in range(3))
    assert strict_client.put("/lookup-tables/t1", content=three, auth=auth).status_code == 200
    count = store.query_rows("SELECT count(*) FROM lookup_rows WHERE project_id = 1")
    assert count == [(3,)]
