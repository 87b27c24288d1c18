"""The official ``mixpanel`` Python SDK against a real ``driftline serve``: every call of
``Consumer`` and ``BufferedConsumer`` lands in the store as sent."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from ingest_readback import group, profile, stored_events

from driftline.store import DuckDBStore

mixpanel = pytest.importorskip("mixpanel")

pytestmark = pytest.mark.e2e


def credentials(url: str, data_dir: Path) -> dict[str, Any]:
    admin = (data_dir / "admin.token").read_text().strip()
    r = httpx.get(
        f"{url}/api/v1/projects?show_secrets=true", headers={"Authorization": f"Bearer {admin}"}
    )
    r.raise_for_status()
    return r.json()[0]  # type: ignore[no-any-return]


def urls(url: str) -> dict[str, str]:
    return {
        "events_url": f"{url}/track",
        "people_url": f"{url}/engage",
        "groups_url": f"{url}/groups",
        "import_url": f"{url}/import",
    }


def test_consumer_track_import_people_and_groups(server: Any) -> None:
    project = credentials(server.url, server.data_dir)
    mp = mixpanel.Mixpanel(project["token"], consumer=mixpanel.Consumer(**urls(server.url)))
    now = round(time.time(), 3)
    mp.track("u1", "Signed Up", {"plan": "pro", "seats": 3, "time": now, "nested": {"a": [1, 2]}})
    mp.track("u1", "Logged In", {"$device_id": "dev-1", "time": now - 1.25})
    creds = mixpanel.ServiceAccountCredentials("svc", project["secret"], str(project["id"]))
    importer = mixpanel.Mixpanel(
        project["token"], consumer=mixpanel.Consumer(**urls(server.url), credentials=creds)
    )
    importer.import_data(None, "u2", "Old Purchase", 1_600_000_000, {"amount": 12.5})
    legacy = mixpanel.Mixpanel(project["token"], consumer=mixpanel.Consumer(**urls(server.url)))
    legacy.import_data("key", "u3", "Legacy Import", 1_600_000_100, api_secret=project["secret"])

    mp.people_set("u1", {"$name": "Ada", "plan": "pro"})
    mp.people_set_once("u1", {"plan": "free", "source": "ad"})
    mp.people_increment("u1", {"logins": 3})
    mp.people_append("u1", {"pages": "home"})
    mp.people_union("u1", {"tags": ["a", "b"]})
    mp.people_remove("u1", {"tags": "a"})
    mp.people_unset("u1", ["source"])
    mp.people_track_charge("u1", 9.99, {"sku": "X"})
    mp.people_set("u9", {"x": 1})
    mp.people_delete("u9")
    mp.people_set("u8", {"x": 1})
    mp.people_track_charge("u8", 1)
    mp.people_clear_charges("u8")

    mp.group_set("company", "acme", {"name": "Acme", "seats": 10})
    mp.group_set_once("company", "acme", {"name": "X", "tier": "gold"})
    mp.group_union("company", "acme", {"domains": ["acme.com", "acme.io"]})
    mp.group_remove("company", "acme", {"domains": "acme.io"})
    mp.group_unset("company", "acme", ["seats"])
    mp.group_set("company", "gone", {"a": 1})
    mp.group_delete("company", "gone")

    server.stop()
    with DuckDBStore(server.data_dir) as store:
        events = {e["event"]: e for e in stored_events(store, project["id"])}
        assert set(events) == {"Signed Up", "Logged In", "Old Purchase", "Legacy Import"}
        signed = events["Signed Up"]
        assert signed["time_ms"] == round(now * 1000)
        assert signed["distinct_id"] == "u1"
        assert signed["properties"]["plan"] == "pro"
        assert signed["properties"]["seats"] == 3
        assert signed["properties"]["nested"] == {"a": [1, 2]}
        assert signed["properties"]["mp_lib"] == "python"
        assert len(signed["insert_id"]) == 32
        assert events["Logged In"]["time_ms"] == round((now - 1.25) * 1000)
        assert (events["Logged In"]["device_id"], events["Logged In"]["user_id"]) == ("dev-1", "u1")
        assert events["Old Purchase"]["time_ms"] == 1_600_000_000_000
        assert events["Old Purchase"]["properties"]["$import"] is True
        assert events["Legacy Import"]["origin"] == "import"

        u1 = profile(store, "u1", project["id"])
        assert u1 is not None
        assert u1["$name"] == "Ada" and u1["plan"] == "pro" and "source" not in u1
        assert u1["logins"] == 3 and u1["pages"] == ["home"] and u1["tags"] == ["b"]
        assert u1["$transactions"][0]["$amount"] == 9.99
        assert "$last_seen" in u1
        assert profile(store, "u9", project["id"]) is None
        assert "$transactions" not in (profile(store, "u8", project["id"]) or {})
        assert group(store, "company", "acme", project["id"]) == {
            "name": "Acme",
            "tier": "gold",
            "domains": ["acme.com"],
        }
        assert group(store, "company", "gone", project["id"]) is None


def test_buffered_consumer_batches(server: Any) -> None:
    project = credentials(server.url, server.data_dir)
    consumer = mixpanel.BufferedConsumer(max_size=50, **urls(server.url))
    mp = mixpanel.Mixpanel(project["token"], consumer=consumer)
    now = time.time()
    for i in range(120):
        mp.track(f"user-{i % 7}", "Viewed", {"i": i, "time": now - i})
    for i in range(60):
        mp.people_set(f"user-{i}", {"i": i})
    for i in range(10):
        mp.group_set("team", f"t{i}", {"i": i})
    consumer.flush()
    server.stop()
    with DuckDBStore(server.data_dir) as store:
        events = stored_events(store, project["id"])
        assert sorted(e["properties"]["i"] for e in events) == list(range(120))
        assert profile(store, "user-59", project["id"])["i"] == 59  # type: ignore[index]
        assert group(store, "team", "t9", project["id"]) == {"i": 9}
