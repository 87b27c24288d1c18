"""Scheduling: due windows, fair turns, backoff; and the service inside the app."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from driftline.config import load_settings
from driftline.pipelines.catalog import Pipeline
from driftline.pipelines.scheduler import Backoff, FairQueue, due_until
from driftline.pipelines.spec import parse_spec
from driftline.server import create_app
from driftline.store import AppendEvents, DuckDBStore, GroupCommitWriter

from .conftest import make_events

NOW = dt.datetime(2026, 11, 22, 10, 7)
DELAY = dt.timedelta(minutes=5)


def pipeline(data: str = "events", frequency: str = "hourly", **state: object) -> Pipeline:
    return Pipeline(1, parse_spec("p", "file:///tmp/x", data, frequency), dict(state))


def test_an_hourly_pipeline_is_due_once_its_window_closed_and_settled() -> None:
    assert due_until(pipeline(watermark="2026-11-22T09:00:00"), "UTC", NOW, DELAY) == dt.datetime(
        2026, 11, 22, 10
    )
    assert due_until(pipeline(watermark="2026-11-22T10:00:00"), "UTC", NOW, DELAY) is None
    early = dt.datetime(2026, 11, 22, 10, 3)  # the 9:00 window closed 3 minutes ago: not yet
    assert due_until(pipeline(watermark="2026-11-22T09:00:00"), "UTC", early, DELAY) is None


def test_daily_windows_follow_the_project_timezone() -> None:
    p = pipeline(frequency="daily", watermark="2026-11-20T23:00:00")  # Berlin midnight of the 21st
    assert due_until(p, "Europe/Berlin", NOW, DELAY) == dt.datetime(2026, 11, 21, 23)


def test_backfill_and_unfinished_steps_are_due_at_once() -> None:
    assert due_until(
        pipeline(watermark="2026-11-22T10:00:00", history={"ranges": []}), "UTC", NOW, DELAY
    )
    assert due_until(
        pipeline(watermark="2026-11-22T10:00:00", in_flight={"kind": "sync"}), "UTC", NOW, DELAY
    )


def test_people_pipelines_run_once_per_window() -> None:
    assert due_until(pipeline("people", asof=None), "UTC", NOW, DELAY) is not None
    assert due_until(pipeline("people", asof="2026-11-22T10:00:00"), "UTC", NOW, DELAY) is None


def test_the_pipeline_served_longest_ago_goes_first() -> None:
    queue = FairQueue()
    assert queue.pick(1, ["b", "a"]) == "a"
    queue.mark(1, "a", NOW)
    assert queue.pick(1, ["a", "b"]) == "b"
    queue.mark(1, "b", NOW + dt.timedelta(seconds=1))
    assert queue.pick(1, ["a", "b"]) == "a"


def test_backoff_doubles_up_to_a_cap() -> None:
    backoff = Backoff(base=60, cap=300)
    key = (1, "p")
    waits = [backoff.failed(key, NOW) for _ in range(5)]
    assert waits == [60, 120, 240, 300, 300]
    assert not backoff.ready(key, NOW + dt.timedelta(seconds=10))
    backoff.succeeded(key)
    assert backoff.ready(key, NOW)


@pytest.mark.slow
def test_serve_runs_due_pipelines_one_step_per_project_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, day: dt.datetime
) -> None:
    monkeypatch.setenv("DRIFTLINE_PIPELINE_POLL_SECONDS", "0.2")
    monkeypatch.setenv("DRIFTLINE_PIPELINE_DELAY_SECONDS", "0")
    data_dir = tmp_path / "data"
    store = DuckDBStore(data_dir)
    store.create_project("default")
    writer = GroupCommitWriter(store)
    writer.write(AppendEvents(make_events(400, day - dt.timedelta(days=2), dt.timedelta(days=3))))
    writer.close()
    app = create_app(load_settings(data_dir=data_dir), store=store)
    from driftline.datadir import DataDir

    headers = {"Authorization": f"Bearer {DataDir(data_dir).admin_token()}"}
    with TestClient(app) as client:
        for name, freq in (("hourly", "hourly"), ("daily", "daily")):
            response = client.post(
                "/api/v1/pipelines",
                headers=headers,
                json={"name": name, "destination": f"file://{tmp_path}/{name}", "frequency": freq},
            )
            assert response.status_code == 201, response.text
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # the listing first: once it is idle, no step starts, and the runs read after it
            # are final when none is still running
            listed = client.get("/api/v1/pipelines", headers=headers).json()
            rows = {
                n: client.get(f"/api/v1/pipelines/{n}/runs", headers=headers).json()
                for n in ("hourly", "daily")
            }
            idle = all(not p["backfill"] and not p["in_flight"] for p in listed)
            finished = all(r and all(x["status"] != "running" for x in r) for r in rows.values())
            if idle and finished:
                break
            time.sleep(0.3)
        for name, runs in rows.items():
            assert sum(r["events_exported"] for r in runs) == 400, name
            assert {r["status"] for r in runs} == {"ok"}
        # one step per project at a time: no two steps of the project overlapped
        spans = sorted((r["started_at"], r["finished_at"]) for runs in rows.values() for r in runs)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start
    store.close()
