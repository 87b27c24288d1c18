"""Engine behaviour beyond the destination contract: people and identity snapshots, no-sync,
reconciliation after deletes, failures in history, credentials never shown."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from driftline.errors import DriftlineError, InvalidInput
from driftline.model import WriteResult
from driftline.pipelines.destinations import open_destination
from driftline.pipelines.engine import PipelineEngine
from driftline.pipelines.history import history
from driftline.pipelines.spec import parse_spec
from driftline.store import AppendEvents, DuckDBStore, GroupCommitWriter, UpsertProfiles

from .conftest import make_events


class DeleteEvents:
    """What a mirror sync's delete does to the store (test double of a later issue's op)."""

    rows = 1
    mergeable = False

    def __init__(self, insert_ids: list[str]) -> None:
        self.ids = insert_ids

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        conn.execute("DELETE FROM events WHERE list_contains(?, insert_id)", [self.ids])
        return WriteResult(committed_at=now)

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        return None


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[DuckDBStore, GroupCommitWriter, PipelineEngine]]:
    store = DuckDBStore(tmp_path / "data")
    store.create_project("default")
    writer = GroupCommitWriter(store)
    yield store, writer, PipelineEngine(store, writer, group_rows=200, part_rows=100)
    writer.close()
    store.close()


def read_lines(root: Path, pattern: str) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(root.glob(pattern)) for line in gzip.open(f)]


def test_people_and_identity_snapshots_replace_the_previous_one(
    env: Any, tmp_path: Path, day: dt.datetime
) -> None:
    store, writer, engine = env
    project = store.get_project(1)
    writer.write(AppendEvents(make_events(300, day, dt.timedelta(days=1))))
    profiles = pa.table(
        {
            "project_id": pa.array([1, 1], pa.int32()),
            "distinct_id": ["user-1", "user-2"],
            "properties": ['{"$name": "Ada", "plan": "team"}', '{"$name": "Lin"}'],
            "origin": ["engage", "engage"],
        }
    )
    writer.write(UpsertProfiles(profiles))
    out = tmp_path / "bucket"
    engine.add(project, parse_spec("people", f"file://{out}", "people", "daily"))
    engine.add(project, parse_spec("ids", f"file://{out}", "identity", "daily"))
    engine.run(project, "people")
    engine.run(project, "ids")
    people = read_lines(out, "1/mp_people_data/*.json.gz")
    assert {p["distinct_id"] for p in people} == {"user-1", "user-2"}
    assert (out / "1/mp_people_data/complete").exists()
    ids = read_lines(out, "1/mp_identity_mappings_data/*.json.gz")
    assert ids and all(i["distinct_id"].startswith("$device:") for i in ids)
    assert all(set(i) == {"distinct_id", "resolved_distinct_id"} for i in ids)
    # a second run replaces the snapshot: one set of files, the new content
    writer.write(
        UpsertProfiles(
            profiles.slice(0, 1).set_column(2, "properties", pa.array(['{"$name": "Ada L."}']))
        )
    )
    engine.run(project, "people")
    files = sorted((out / "1/mp_people_data").glob("*.json.gz"))
    assert len(files) == 1
    people = read_lines(out, "1/mp_people_data/*.json.gz")
    assert {p["distinct_id"]: p["properties"].get("$name") for p in people}["user-1"] == "Ada L."


def test_people_snapshot_into_a_warehouse_swaps_the_view(env: Any, tmp_path: Path) -> None:
    store, writer, engine = env
    project = store.get_project(1)
    writer.write(
        UpsertProfiles(
            pa.table(
                {
                    "project_id": pa.array([1], pa.int32()),
                    "distinct_id": ["u"],
                    "properties": ['{"a": 1}'],
                    "origin": ["engage"],
                }
            )
        )
    )
    url = f"duckdb://{tmp_path}/wh.duckdb"
    engine.add(project, parse_spec("people", url, "people", "daily"))
    engine.run(project, "people")
    engine.run(project, "people")
    wh = open_destination(url)
    try:
        assert wh.query("SELECT distinct_id FROM main.mp_people_data_view") == [("u",)]  # type: ignore[union-attr]
        tables = wh.query(  # type: ignore[union-attr]
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'mp_people_data_%' "
            "AND table_type = 'BASE TABLE'"
        )
        assert len(tables) == 1, "the previous snapshot table is dropped"
    finally:
        wh.close()


def test_no_sync_leaves_out_late_events(env: Any, tmp_path: Path) -> None:
    store, writer, engine = env
    project = store.get_project(1)
    out = tmp_path / "bucket"
    engine.add(project, parse_spec("p", f"file://{out}", "events", "hourly", sync=False))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    writer.write(
        AppendEvents(
            make_events(50, now - dt.timedelta(minutes=30), dt.timedelta(minutes=20), seed=1)
        )
    )
    writer.write(
        AppendEvents(make_events(40, now - dt.timedelta(days=3), dt.timedelta(hours=2), seed=2))
    )
    result = engine.run(project, "p")
    assert result["events_exported"] == 50
    exported = read_lines(out, "1/mp_master_event/**/*.json.gz")
    assert {e["insert_id"][:3] for e in exported} == {"s1-"}
    rows = history(engine.catalog, 1, "UTC", "p")
    assert all(r["status"] == "ok" for r in rows), (
        "late events left out by no-sync are not a mismatch"
    )


def test_history_shows_a_mismatch_when_exported_events_are_deleted(
    env: Any, tmp_path: Path, day: dt.datetime
) -> None:
    store, writer, engine = env
    project = store.get_project(1)
    engine.add(project, parse_spec("p", f"file://{tmp_path}/b", "events", "hourly"))
    writer.write(AppendEvents(make_events(100, day, dt.timedelta(hours=3), seed=1)))
    engine.run(project, "p")
    writer.write(DeleteEvents(["s1-1", "s1-2"]))
    rows = history(engine.catalog, 1, "UTC", "p")
    assert rows[-1]["status"] == "mismatch"
    assert rows[-1]["events_in_store"] == 98 and rows[-1]["events_exported"] == 100
    assert "deleted" in rows[-1]["error"]


def test_a_failing_destination_is_in_history_with_its_reason(
    env: Any, tmp_path: Path, day: dt.datetime
) -> None:
    store, writer, engine = env
    project = store.get_project(1)
    target = tmp_path / "b"
    engine.add(project, parse_spec("p", f"file://{target}", "events", "hourly"))
    writer.write(AppendEvents(make_events(50, day, dt.timedelta(hours=1))))
    blocker = target / "1"
    blocker.write_text("a file where the project's directory should be")  # the step fails
    with pytest.raises(DriftlineError):
        engine.run(project, "p")
    blocker.unlink()
    rows = history(engine.catalog, 1, "UTC", "p")
    assert rows[-1]["status"] == "failed" and "cannot write" in rows[-1]["error"]
    engine.run(project, "p")  # the retry resumes the same step
    rows = history(engine.catalog, 1, "UTC", "p")
    assert [r["status"] for r in rows] == ["ok"] and rows[0]["attempts"] == 2


def test_credentials_are_never_listed(env: Any, tmp_path: Path) -> None:
    store, _writer, engine = env
    project = store.get_project(1)
    url = f"duckdb://{tmp_path}/w.duckdb?password=hunter2&schema=main"
    engine.add(project, parse_spec("p", url, "events", "daily"))
    listed = json.dumps(engine.list(project))
    assert "hunter2" not in listed and "***" in listed


def test_bad_specs_name_the_field(env: Any) -> None:
    store, _writer, engine = env
    project = store.get_project(1)
    for kwargs, field in (
        (
            {
                "name": "bad name!",
                "destination": "file:///tmp/x",
                "data": "events",
                "frequency": "daily",
            },
            "name",
        ),
        (
            {"name": "p", "destination": "nowhere", "data": "events", "frequency": "daily"},
            "destination",
        ),
        (
            {"name": "p", "destination": "file:///tmp/x", "data": "clicks", "frequency": "daily"},
            "data",
        ),
        (
            {"name": "p", "destination": "file:///tmp/x", "data": "events", "frequency": "weekly"},
            "frequency",
        ),
        (
            {"name": "p", "destination": "ftp://x/y", "data": "events", "frequency": "daily"},
            "destination",
        ),
    ):
        with pytest.raises(InvalidInput) as info:
            engine.add(project, parse_spec(**kwargs))
        assert info.value.field == field


def test_a_backfill_requested_during_a_backfill_does_not_redo_done_chunks(
    env: Any, tmp_path: Path, day: dt.datetime
) -> None:
    store, writer, _ = env
    project = store.get_project(1)
    engine = PipelineEngine(store, writer, chunk_rows=100)
    writer.write(AppendEvents(make_events(600, day - dt.timedelta(days=5), dt.timedelta(days=6))))
    out = tmp_path / "b"
    engine.add(
        project,
        parse_spec(
            "p",
            f"file://{out}",
            "events",
            "daily",
            from_date=(day - dt.timedelta(days=2)).date().isoformat(),
        ),
    )
    engine.run(project, "p", max_steps=2)  # part of the history
    engine.backfill(project, "p", (day - dt.timedelta(days=5)).date(), None)
    engine.run(project, "p")
    ids = [e["insert_id"] for e in read_lines(out, "1/mp_master_event/**/*.json.gz")]
    assert len(ids) == len(set(ids)) == 600
