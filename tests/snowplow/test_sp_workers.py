"""Collector worker processes (`driftline serve --collector-workers N`) against a real server:
what a worker enriches is what the server enriches itself, a worker killed mid-load loses
nothing that was acknowledged, and the workers leave with the server."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snowplow_data import post_body, tracker_events

from tests.conftest import RunningServer, run_cli, start_server

pytestmark = pytest.mark.e2e
TP2 = "/com.snowplowanalytics.snowplow/tp2"
#: fields that differ between two enrichments of the same request: the time it arrived and
#: was enriched (and what is derived from it), and the network user id each request without
#: an ``sp`` cookie gets anew
VARYING = {"collector_tstamp", "etl_tstamp", "derived_tstamp", "network_userid"}


def _metric(server: RunningServer, name: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def _worker_pids(server: RunningServer) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == server.process.pid and b"spawn_main" in (
                entry / "cmdline"
            ).read_bytes():
                pids.append(int(entry.name))  # not multiprocessing's resource tracker
    return pids


def _wait_ready(server: RunningServer, count: int = 1) -> None:
    """Workers start at the first tracker request; wait until ``count`` are ready."""
    httpx.options(server.url + TP2, timeout=10)  # no events: only starts them
    httpx.post(server.url + TP2, content=b"", timeout=10)
    deadline = time.monotonic() + 60
    while _metric(server, "driftline_collector_workers_ready") < count:
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.2)


def _export(server: RunningServer) -> list[dict[str, object]]:
    out = run_cli("export", "snowplow", "--shape", "json", data_dir=server.data_dir).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def worker_server(tmp_path: Path) -> Iterator[RunningServer]:
    data_dir = tmp_path / "srv"
    run_cli("init", data_dir=data_dir)
    running = start_server(data_dir, "--collector-workers", "1")
    yield running
    running.stop()


def _post_all(server: RunningServer, bodies: list[bytes]) -> list[int]:
    statuses: list[int] = [0] * len(bodies)

    def send(part: range) -> None:
        with httpx.Client(timeout=60) as client:
            for i in part:
                statuses[i] = client.post(
                    server.url + TP2,
                    content=bodies[i],
                    headers={"content-type": "application/json"},
                ).status_code

    threads = [threading.Thread(target=send, args=(range(k, len(bodies), 4),)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def _bad_rows(server: RunningServer) -> list[tuple[str, object]]:
    """(kind, failure) of each bad row: what went wrong, without the time it arrived."""
    out = run_cli("export", "bad-rows", data_dir=server.data_dir).stdout
    docs = [json.loads(line) for line in out.splitlines() if line.strip()]
    return sorted(
        (d["schema"], json.dumps(d["data"]["failure"].get("messages"), sort_keys=True))
        for d in docs
    )


def test_a_worker_enriches_as_the_server_does(tmp_path: Path) -> None:
    events = tracker_events(200)
    # a few events each request's batch must set apart as bad rows, the others kept
    events[5]["e"] = "no-such-type"
    events[17]["ue_px"] = "not base64 at all!"
    events[18]["p"] = "no-such-platform"
    bodies = [post_body(events[i : i + 10]) for i in range(0, 200, 10)]
    rows, bad = {}, {}
    for workers in ("1", "0"):
        data_dir = tmp_path / f"w{workers}"
        run_cli("init", data_dir=data_dir)
        server = start_server(data_dir, "--collector-workers", workers)
        try:
            _wait_ready(server, int(workers))  # on both: the same empty POST, one bad row
            assert _post_all(server, bodies) == [200] * len(bodies)
            by_worker = _metric(server, 'driftline_collector_requests_total{by="worker"}')
            assert by_worker == (len(bodies) if workers == "1" else 0)
            exported = _export(server)
            bad[workers] = _bad_rows(server)
        finally:
            server.stop()
        assert len(exported) == 197
        rows[workers] = {
            e["event_id"]: {k: v for k, v in e.items() if k not in VARYING} for e in exported
        }
    assert rows["1"] == rows["0"]
    assert len(rows["1"]) == 197
    assert bad["1"] == bad["0"]
    assert len(bad["1"]) == 4


def test_a_worker_killed_mid_load_loses_nothing_acknowledged(
    worker_server: RunningServer,
) -> None:
    _wait_ready(worker_server)
    [worker] = _worker_pids(worker_server)
    events = tracker_events(3000)
    bodies = [post_body(events[i : i + 10]) for i in range(0, 3000, 10)]
    statuses: list[int] = []
    killer = threading.Timer(1.0, os.kill, (worker, signal.SIGKILL))
    killer.start()
    statuses = _post_all(worker_server, bodies)
    killer.join()
    assert set(statuses) <= {200, 503}, statuses
    acknowledged = {
        ev["eid"]
        for body, status in zip(bodies, statuses, strict=True)
        if status == 200
        for ev in json.loads(body)["data"]
    }
    stored = {e["event_id"] for e in _export(worker_server)}
    # every acknowledged event is stored; a 503 stored nothing, so a tracker's retry is safe
    refused = {
        ev["eid"]
        for body, status in zip(bodies, statuses, strict=True)
        if status == 503
        for ev in json.loads(body)["data"]
    }
    assert acknowledged <= stored
    assert not (refused & stored)
    # the worker is started again and takes requests again
    _wait_ready(worker_server)
    assert _worker_pids(worker_server) != [worker]
    before = _metric(worker_server, 'driftline_collector_requests_total{by="worker"}')
    assert _post_all(worker_server, [post_body(tracker_events(10, seed=99))]) == [200]
    after = _metric(worker_server, 'driftline_collector_requests_total{by="worker"}')
    assert after == before + 1


def test_worker_errors_are_answered_as_the_server_answers_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "srv"
    run_cli("init", data_dir=data_dir)
    (data_dir / "snowplow.toml").write_text('[collector]\nproject = "no-such-project"\n')
    server = start_server(data_dir, "--collector-workers", "1")
    try:
        _wait_ready(server)
        answer = httpx.post(
            server.url + TP2,
            content=post_body(tracker_events(10)),
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert answer.status_code == 404
        assert answer.json() == {
            "error": "collector project 'no-such-project' (snowplow.toml) does not exist",
            "status": 404,
        }
        assert _metric(server, 'driftline_collector_requests_total{by="worker"}') >= 1
    finally:
        server.stop()


def test_workers_leave_with_the_server_on_ctrl_c(worker_server: RunningServer) -> None:
    _wait_ready(worker_server)
    workers = _worker_pids(worker_server)
    assert workers
    # Ctrl-C in a terminal reaches the whole process group: the worker ignores it and
    # leaves when the server closes its socket
    for pid in workers:
        os.kill(pid, signal.SIGINT)
    time.sleep(0.5)
    assert all(Path(f"/proc/{pid}").exists() for pid in workers)
    assert worker_server.stop(signal.SIGINT) == 0
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "a collector worker outlived the server"
        time.sleep(0.1)
    log = worker_server.log.read_text()
    assert "Traceback" not in log and "leaked" not in log, log


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def test_fuzz_through_a_worker_never_answers_5xx(worker_server: RunningServer) -> None:
    """Garbage bodies, content types and query strings, enriched by a worker process: never
    a 5xx, and the worker really took them."""
    _wait_ready(worker_server)
    before = _metric(worker_server, 'driftline_collector_requests_total{by="worker"}')
    sent = [0]
    payload = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"

    @settings(max_examples=80, deadline=None)
    @given(
        body=st.one_of(
            st.binary(max_size=300),
            _JSON_VALUES.map(lambda v: json.dumps({"schema": payload, "data": v}).encode()),
            st.lists(
                st.dictionaries(
                    st.sampled_from(["e", "p", "tv", "ue_px", "cx", "co", "dtm", "res", "eid"]),
                    st.text(max_size=30),
                    max_size=6,
                ),
                max_size=5,
            ).map(lambda v: json.dumps({"schema": payload, "data": v}).encode()),
        ),
        query=st.text(max_size=40),
        ctype=st.sampled_from(["application/json", "text/plain", "application/x-www-form", ""]),
    )
    def check(body: bytes, query: str, ctype: str) -> None:
        headers = {"content-type": ctype} if ctype else {}
        params = quote(query, safe="=&")
        with httpx.Client(base_url=worker_server.url, timeout=30) as client:
            assert client.post(f"{TP2}?{params}", content=body, headers=headers).status_code < 500
            assert client.get(f"/i?{params}").status_code < 500
        sent[0] += 2

    check()
    after = _metric(worker_server, 'driftline_collector_requests_total{by="worker"}')
    assert after - before == sent[0]


def _under_load(server: RunningServer, n: int, seed: int) -> tuple[list[bytes], list[int], Any]:
    """Eight trackers posting ``n`` events in requests of 10; returns the bodies, their
    statuses as they come (0: not answered) and a function that waits for the trackers."""
    events = tracker_events(n, seed=seed)
    bodies = [post_body(events[i : i + 10]) for i in range(0, n, 10)]
    statuses = [0] * len(bodies)

    def send(part: range) -> None:
        with httpx.Client(timeout=30) as client:
            for i in part:
                try:
                    statuses[i] = client.post(
                        server.url + TP2,
                        content=bodies[i],
                        headers={"content-type": "application/json"},
                    ).status_code
                except httpx.HTTPError:
                    return  # the server is gone: this request and the rest are not answered

    threads = [threading.Thread(target=send, args=(range(k, len(bodies), 8),)) for k in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while statuses.count(200) < 100:  # well into the load
        assert time.monotonic() < deadline, server.log.read_text()
        time.sleep(0.01)

    def join() -> None:
        for t in threads:
            t.join()

    return bodies, statuses, join


def _acknowledged_are_stored(data_dir: Path, bodies: list[bytes], statuses: list[int]) -> None:
    """After a restart: every acknowledged request's events stored, each request's events
    all or none, no event twice."""
    again = start_server(data_dir, "--collector-workers", "0")
    try:
        stored = [e["event_id"] for e in _export(again)]
    finally:
        again.stop()
    assert len(stored) == len(set(stored)), "an event stored twice"
    stored_set = set(stored)
    for body, status in zip(bodies, statuses, strict=True):
        ids = {ev["eid"] for ev in json.loads(body)["data"]}
        kept = len(ids & stored_set)
        assert kept in (0, len(ids)), "a request's events were stored in part"
        if status == 200:
            assert kept == len(ids), "an acknowledged request's events are missing"


def test_the_server_killed_mid_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """SIGKILL of the server (and its workers) while trackers post: after a restart every
    acknowledged event is there, each request's events all or none, none twice. The WAL
    holds the commits since the last checkpoint and is replayed when the store opens."""
    data_dir = tmp_path / "srv"
    run_cli("init", data_dir=data_dir)
    server = start_server(data_dir, "--collector-workers", "1")
    _wait_ready(server)
    workers = _worker_pids(server)
    bodies, statuses, join = _under_load(server, 6000, seed=11)
    server.process.kill()
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    join()
    server.process.wait()
    assert set(statuses) <= {0, 200}, set(statuses)
    assert 0 in statuses, "the kill came after the last request: nothing was tested"
    _acknowledged_are_stored(data_dir, bodies, statuses)


def test_ctrl_c_twice_under_load_still_stops_cleanly(tmp_path: Path) -> None:
    """Ctrl-C pressed twice at once while trackers post (the terminal signals the server and
    its workers): the second one only skips the wait for open connections. The workers are
    stopped, not restarted; the writer commits what it holds; no traceback; exit status 0;
    nothing acknowledged is lost."""
    data_dir = tmp_path / "srv"
    run_cli("init", data_dir=data_dir)
    server = start_server(data_dir, "--collector-workers", "1")
    _wait_ready(server)
    workers = _worker_pids(server)
    bodies, statuses, join = _under_load(server, 6000, seed=12)
    for _ in range(2):
        for pid in [server.process.pid, *workers]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        time.sleep(0.01)
    assert server.process.wait(60) == 0, server.log.read_text()
    join()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "a collector worker outlived the server"
        time.sleep(0.1)
    log = server.log.read_text()
    for wrong in ("Traceback", "starting it again", "CancelledError"):
        assert wrong not in log, log
    assert 0 in statuses, "the server stopped after the last request: nothing was tested"
    _acknowledged_are_stored(data_dir, bodies, statuses)
