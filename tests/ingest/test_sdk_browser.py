"""The official browser SDK (``mixpanel-browser`` from npm) in headless Chromium, with
``api_host`` pointed at a real ``driftline serve``: what it sends is what the store holds."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ingest_readback import profile, stored_events
from test_sdk_python import credentials

from driftline.store import DuckDBStore

pytestmark = pytest.mark.e2e

BROWSER_DIR = Path(__file__).parent / "browser"
CHROMIUM = Path("/usr/bin/chromium")
SDK = BROWSER_DIR / "node_modules" / "mixpanel-browser" / "dist" / "mixpanel.module.js"


@pytest.fixture
def page_url(tmp_path: Path) -> Iterator[str]:
    """The test page and the SDK bundle, served from another origin than driftline."""
    if not (CHROMIUM.exists() and SDK.exists() and shutil.which("node")):
        pytest.skip("needs chromium and the npm packages: bash .ci/setup.d/30-browser.sh")
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(BROWSER_DIR / "page.html", root / "index.html")
    shutil.copy(SDK, root / "mixpanel.module.js")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()
    httpd.server_close()


def test_track_identify_and_people_set_land_in_the_store(server: Any, page_url: str) -> None:
    project = credentials(server.url, server.data_dir)
    proc = subprocess.run(
        ["node", str(BROWSER_DIR / "run.mjs"), f"{page_url}?token={project['token']}", server.url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=BROWSER_DIR,
    )
    assert proc.returncode == 0, proc.stderr
    sent = json.loads(proc.stdout)
    assert sent, "the SDK sent nothing"
    assert all(s["status"] == 200 for s in sent), sent
    assert all(json.loads(s["body"]) == {"status": 1, "error": None} for s in sent)
    assert all(s["allowOrigin"] == page_url.rsplit("/", 1)[0] for s in sent)
    events_sent = [e for s in sent if "/track" in s["url"] for e in s["payload"]]
    updates_sent = [u for s in sent if "/engage" in s["url"] for u in s["payload"]]
    server.stop()

    with DuckDBStore(server.data_dir) as store:
        stored = {e["insert_id"]: e for e in stored_events(store, project["id"])}
        assert len(stored) == len(events_sent)
        for sent_event in events_sent:
            props = sent_event["properties"]
            row = stored[props["$insert_id"]]
            assert row["event"] == sent_event["event"]
            assert row["time_ms"] == round(props["time"] * 1000)
            assert row["properties"]["$current_url"] == props["$current_url"]
            assert row["properties"]["mp_lib"] == "web"
        by_name = {e["event"]: e for e in stored.values()}
        assert {"Viewed Page", "$identify", "Clicked Buy"} <= set(by_name)
        viewed = by_name["Viewed Page"]
        assert viewed["properties"]["section"] == "pricing"
        assert viewed["properties"]["tags"] == ["a", "b"]
        assert viewed["distinct_id"].startswith("$device:")
        device = viewed["device_id"]
        buy = by_name["Clicked Buy"]
        assert (buy["distinct_id"], buy["device_id"], buy["user_id"]) == (
            "user-42",
            device,
            "user-42",
        )
        # identity: the anonymous page view now resolves to the user
        resolved = store.query_rows(
            "SELECT resolved_distinct_id FROM events_resolved WHERE project_id = ? AND event = ?",
            [project["id"], "Viewed Page"],
        )
        assert resolved == [("user-42",)]
        person = profile(store, "user-42", project["id"])
        assert person is not None
        assert person["$email"] == "ada@example.com" and person["plan"] == "pro"
        assert any(u.get("$distinct_id") == "user-42" for u in updates_sent)
