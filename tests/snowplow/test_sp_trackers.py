"""Real trackers against the real server on loopback: the `snowplow-tracker` Python package
(GET and POST emitters) and the JavaScript tracker in Debian's headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer, run_cli, start_server

pytestmark = pytest.mark.e2e
BROWSER_DIR = Path(__file__).parent / "browser"


@pytest.fixture
def sp_server(tmp_path: Path) -> Iterator[RunningServer]:
    data_dir = tmp_path / "srv"
    run_cli("init", data_dir=data_dir)
    running = start_server(data_dir)
    yield running
    running.stop()


def _query(server: RunningServer, sql: str) -> list[list[object]]:
    """Read through the CLI's export (the server owns the store)."""
    out = run_cli("export", "snowplow", "--shape", "json", data_dir=server.data_dir).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_python_tracker_get_and_post(sp_server: RunningServer) -> None:
    from snowplow_tracker import (
        Emitter,
        PageView,
        SelfDescribing,
        SelfDescribingJson,
        StructuredEvent,
        Subject,
        Tracker,
    )

    host, port = sp_server.url.removeprefix("http://").split(":")
    failures: list[object] = []
    post_emitter = Emitter(host, protocol="http", port=int(port), method="post", batch_size=3,
                           on_failure=lambda n, evts: failures.append(evts))  # fmt: skip
    get_emitter = Emitter(host, protocol="http", port=int(port), method="get",
                          on_failure=lambda n, evts: failures.append(evts))  # fmt: skip
    subject = Subject().set_platform("web").set_user_id("py-user").set_lang("en")
    context = SelfDescribingJson(
        "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",
        {"id": "2ec13853-4a4a-4b4b-8c8c-0123456789ab"},
    )
    for emitter, namespace in ((post_emitter, "py-post"), (get_emitter, "py-get")):
        tracker = Tracker(namespace=namespace, emitters=emitter, subject=subject, app_id="pytest")
        tracker.track(
            PageView(page_url="https://www.example.com/a", page_title="Home", context=[context])
        )
        tracker.track(
            StructuredEvent(category="shop", action="add-to-basket", property_="pcs", value=2)
        )
        tracker.track(
            SelfDescribing(
                SelfDescribingJson(
                    "iglu:com.snowplowanalytics.snowplow/link_click/jsonschema/1-0-1",
                    {"targetUrl": "https://www.example.com/b"},
                ),
                context=[context],
            )
        )
        tracker.flush()
    assert failures == []
    events = _query(sp_server, "")
    assert len(events) == 6
    assert sorted(e["event"] for e in events) == sorted(["page_view", "struct", "unstruct"] * 2)
    assert {e["v_tracker"].split("-")[0] for e in events} == {"py"}
    assert {e["name_tracker"] for e in events} == {"py-post", "py-get"}
    assert all(e["user_id"] == "py-user" and e["app_id"] == "pytest" for e in events)
    link = [e for e in events if e["event"] == "unstruct"]
    assert all(
        e["unstruct_event_com_snowplowanalytics_snowplow_link_click_1"]["targetUrl"]
        == "https://www.example.com/b"
        and e["contexts_com_snowplowanalytics_snowplow_web_page_1"][0]["id"]
        == "2ec13853-4a4a-4b4b-8c8c-0123456789ab"
        for e in link
    )
    assert all(e["se_value"] == 2 for e in events if e["event"] == "struct")
    counts = run_cli(
        "export", "bad-rows", "--count", "--format", "json", data_dir=sp_server.data_dir
    ).stdout
    assert json.loads(counts) == []


class _Page(BaseHTTPRequestHandler):
    html = b""
    script = b""

    def do_GET(self) -> None:
        body = self.script if self.path.startswith("/tracker.js") else self.html
        self.send_response(200)
        self.send_header(
            "Content-Type",
            "application/javascript" if self.path.startswith("/tracker.js") else "text/html",
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.skipif(
    shutil.which("chromium") is None
    or not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir(),
    reason="needs Debian's chromium and `npm install` in tests/snowplow/browser (.ci/setup.d/40-snowplow.sh)",
)
def test_javascript_tracker_in_chromium_round_trips_the_sp_cookie(sp_server: RunningServer) -> None:
    _Page.script = (
        BROWSER_DIR / "node_modules/@snowplow/browser-tracker/dist/index.umd.min.js"
    ).read_bytes()
    _Page.html = b"<!doctype html><title>driftline shop</title><script src='/tracker.js'></script><p>shop</p>"
    page_server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=page_server.serve_forever, daemon=True).start()
    try:
        collector_port = sp_server.url.rsplit(":", 1)[1]
        page_url = f"http://localhost:{page_server.server_address[1]}/shop?utm_source=browser-test"
        proc = subprocess.run(
            ["node", "run.mjs", page_url, f"http://localhost:{collector_port}"],
            cwd=BROWSER_DIR,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        page_server.shutdown()
        page_server.server_close()
    events = _query(sp_server, "")
    assert len(events) >= 3
    assert {e["v_tracker"].split("-")[0] for e in events} == {"js"}
    nuids = {e["network_userid"] for e in events}
    # the collector set `sp` on the first response; the browser sent it back on later ones
    assert len(nuids) == 1, nuids
    assert result["cookie"] == next(iter(nuids))
    assert {e["event"] for e in events} >= {"page_view", "struct"}
    assert all(
        e["platform"] == "web" and e.get("mkt_source") == "browser-test"
        for e in events
        if e["event"] == "page_view"
    )
    assert all(e["useragent"].find("Chrome") >= 0 for e in events)
    assert httpx.get(sp_server.url + "/health").text == "ok"
