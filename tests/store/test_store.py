"""The store's promises: deduplication, identity, durability, migrations, projects."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pyarrow as pa
import pytest

from driftline.errors import AlreadyExists, InvalidInput, NotFound, StoreBusy
from driftline.model import EVENT_SCHEMA
from driftline.store import AppendEvents, DuckDBStore, GroupCommitWriter
from driftline.store import writer as writer_module
from driftline.store.ops import LinkedDevices
from driftline.store.schema import LATEST_VERSION


def events(rows: list[dict[str, object]]) -> pa.Table:
    base = {
        "project_id": 1,
        "device_id": None,
        "user_id": None,
        "properties": "{}",
        "origin": "import",
        "origin_key": None,
    }
    full = [{**base, **r} for r in rows]
    for r in full:
        r["time"] = dt.datetime(2025, 1, 1) + dt.timedelta(seconds=int(r["time"]))  # type: ignore[call-overload]
    return pa.Table.from_pylist(full, schema=EVENT_SCHEMA)


def test_duplicates_count_once_and_last_ingested_wins(
    store: DuckDBStore, writer: GroupCommitWriter
) -> None:
    first = events(
        [{"event": "a", "time": 1, "distinct_id": "u", "insert_id": "x", "properties": '{"v": 1}'}]
    )
    second = events(
        [
            {
                "event": "a",
                "time": 1,
                "distinct_id": "u",
                "insert_id": "x",
                "properties": '{"v": 2}',
            },
            {
                "event": "a",
                "time": 1,
                "distinct_id": "u",
                "insert_id": "x",
                "properties": '{"v": 3}',
            },
            {
                "event": "a",
                "time": 2,
                "distinct_id": "u",
                "insert_id": "x",
            },  # other time: another event
        ]
    )
    writer.write(AppendEvents(first))
    result = writer.write(AppendEvents(second))
    assert result.replaced == 1
    rows = store.query_rows("SELECT time, properties->>'v' FROM events ORDER BY time")
    assert [r[1] for r in rows] == ["3", None]


def test_device_events_resolve_to_user_retroactively(
    store: DuckDBStore, writer: GroupCommitWriter
) -> None:
    writer.write(
        AppendEvents(
            events(
                [
                    {
                        "event": "view",
                        "time": 1,
                        "distinct_id": "$device:d1",
                        "device_id": "d1",
                        "insert_id": "a",
                    }
                ]
            )
        )
    )
    before = store.query_rows("SELECT resolved_distinct_id FROM events_resolved")
    assert before == [("$device:d1",)]
    writer.write(
        AppendEvents(
            events(
                [
                    {
                        "event": "login",
                        "time": 5,
                        "distinct_id": "alice",
                        "device_id": "d1",
                        "user_id": "alice",
                        "insert_id": "b",
                    }
                ]
            )
        )
    )
    # a later user cannot take the device over (two users are never merged)
    writer.write(
        AppendEvents(
            events(
                [
                    {
                        "event": "login",
                        "time": 9,
                        "distinct_id": "bob",
                        "device_id": "d1",
                        "user_id": "bob",
                        "insert_id": "c",
                    }
                ]
            )
        )
    )
    rows = store.query_rows("SELECT event, resolved_distinct_id FROM events_resolved ORDER BY time")
    assert rows == [("view", "alice"), ("login", "alice"), ("login", "bob")]


def test_group_commit_merges_concurrent_writes(store: DuckDBStore) -> None:
    writer = GroupCommitWriter(store)
    futures = [
        writer.submit(
            AppendEvents(
                events([{"event": "e", "time": i, "distinct_id": "u", "insert_id": f"i{i}"}])
            )
        )
        for i in range(200)
    ]
    results = [f.result() for f in futures]
    writer.close()
    assert all(r.committed_at is not None for r in results)
    assert store.count_events(1) == 200
    assert writer.stats.commits < 200  # many requests, fewer commits


def test_a_failing_write_fails_alone(store: DuckDBStore) -> None:
    writer = GroupCommitWriter(store)
    bad = events([{"event": None, "time": 1, "distinct_id": "u", "insert_id": "x"}])
    good = [
        writer.submit(
            AppendEvents(
                events([{"event": "e", "time": i, "distinct_id": "u", "insert_id": f"g{i}"}])
            )
        )
        for i in range(5)
    ]
    failing = writer.submit(AppendEvents(bad))
    for f in good:
        f.result()
    with pytest.raises(Exception, match="NOT NULL"):
        failing.result()
    writer.close()
    assert store.count_events(1) == 5


def test_stored_means_committed_across_reopen(
    data_dir, store: DuckDBStore, writer: GroupCommitWriter
) -> None:
    writer.write(
        AppendEvents(events([{"event": "e", "time": 1, "distinct_id": "u", "insert_id": "x"}]))
    )
    writer.close()
    store.close()
    with DuckDBStore(data_dir) as again:
        assert again.count_events(1) == 1
        assert again.schema_version() == LATEST_VERSION


def test_second_process_gets_a_clear_busy_error(data_dir, store: DuckDBStore) -> None:
    import subprocess
    import sys

    code = f"from driftline.store import DuckDBStore\nDuckDBStore({str(data_dir)!r})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "StoreBusy" in proc.stderr and "in use by process" in proc.stderr
    assert StoreBusy.status == 503


def test_projects(store: DuckDBStore) -> None:
    other = store.create_project("web", "Europe/Berlin")
    assert other.id == 2 and len(other.token) == 32 and other.token != other.secret
    assert store.get_project("web") == other == store.get_project(2)
    assert store.project_by_credential(other.secret, kind="secret") == other
    assert store.project_by_credential(other.secret, kind="token") is None
    with pytest.raises(AlreadyExists):
        store.create_project("web")
    with pytest.raises(InvalidInput, match="timezone"):
        store.create_project("x", "Mars/Olympus")
    with pytest.raises(NotFound, match="projects are"):
        store.get_project("nope")


def test_bulk_stream_keeps_the_last_copy_of_every_key(
    store: DuckDBStore, writer: GroupCommitWriter
) -> None:
    from driftline.store import AppendEventStream

    writer.write(
        AppendEvents(
            events(
                [
                    {
                        "event": "a",
                        "time": 1,
                        "distinct_id": "u",
                        "insert_id": "old",
                        "properties": '{"v": "stored"}',
                    }
                ]
            )
        )
    )
    stream = [
        events(
            [
                {
                    "event": "a",
                    "time": 1,
                    "distinct_id": "u",
                    "insert_id": "old",
                    "properties": '{"v": "t0"}',
                },
                {
                    "event": "a",
                    "time": 2,
                    "distinct_id": "u",
                    "insert_id": "x",
                    "properties": '{"v": "t0-first"}',
                },
                {
                    "event": "a",
                    "time": 2,
                    "distinct_id": "u",
                    "insert_id": "x",
                    "properties": '{"v": "t0-second"}',
                },
                {
                    "event": "b",
                    "time": 3,
                    "distinct_id": "$device:d",
                    "device_id": "d",
                    "insert_id": "y",
                },
            ]
        ),
        events(
            [
                {
                    "event": "a",
                    "time": 2,
                    "distinct_id": "u",
                    "insert_id": "x",
                    "properties": '{"v": "t1"}',
                },
                {
                    "event": "c",
                    "time": 4,
                    "distinct_id": "w",
                    "device_id": "d",
                    "user_id": "w",
                    "insert_id": "z",
                },
            ]
        ),
        events([]),
    ]
    result = writer.write(AppendEventStream(iter(stream)))
    assert result.rows == 6
    rows = store.query_rows("SELECT insert_id, properties->>'v' FROM events ORDER BY time")
    assert rows == [("old", "t0"), ("x", "t1"), ("y", None), ("z", None)]
    assert store.query_rows(
        "SELECT resolved_distinct_id FROM events_resolved WHERE insert_id = 'y'"
    ) == [("w",)]
    # the export clock stays ahead of every row the stream stamped
    newest = store.query_rows("SELECT max(ingested_at) FROM events")[0][0]
    later = writer.write(
        AppendEvents(events([{"event": "d", "time": 9, "distinct_id": "u", "insert_id": "q"}]))
    )
    assert later.committed_at > newest


def _threads(store: DuckDBStore) -> int:
    return int(store.query_rows("SELECT current_setting('threads')")[0][0])


def test_live_load_runs_the_store_on_one_thread_until_it_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups of several client requests switch DuckDB to one thread; after LIVE_IDLE
    seconds without one the store has its threads back. A lone request changes nothing."""
    monkeypatch.setattr(writer_module, "LIVE_IDLE", 0.3)
    store = DuckDBStore(tmp_path / "data", threads=2)
    store.create_project("default")
    writer = GroupCommitWriter(store)
    try:
        row = {"event": "a", "distinct_id": "u", "time": 1}
        writer.write(AppendEvents(events([{**row, "insert_id": "lone"}]), sources=1))
        assert _threads(store) == 2
        writer.write(AppendEvents(events([{**row, "insert_id": "many"}]), sources=8))
        assert _threads(store) == 1 and store.live_load
        deadline = time.monotonic() + 10
        while _threads(store) != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _threads(store) == 2 and not store.live_load
        # an import (no client requests) never switches it
        writer.write(AppendEvents(events([{**row, "insert_id": "bulk"}])))
        assert _threads(store) == 2
        assert store.query_rows("SELECT count(*) FROM events")[0][0] == 3
    finally:
        writer.close()
        store.close()


class _Fails:
    """An op that fails inside the transaction, after the ops before it applied."""

    rows = 0

    def apply(self, conn: object, now: dt.datetime) -> None:
        raise RuntimeError("fails on purpose")

    def cleanup(self, conn: object) -> None:
        pass


def test_known_linked_devices_skip_nothing_and_survive_no_rollback(store: DuckDBStore) -> None:
    """A device whose identity is committed is remembered, so later commits need not link it
    again; a link rolled back is not remembered, and the next event links it for real."""

    def linking(device: str, user: str, insert_id: str) -> AppendEvents:
        row = {"event": "a", "distinct_id": user, "time": 1, "insert_id": insert_id}
        return AppendEvents(events([{**row, "device_id": device, "user_id": user}]))

    def identities() -> dict[str, str]:
        rows = store.query_rows("SELECT device_id, user_id FROM identities ORDER BY device_id")
        return {d: u for d, u in rows}

    store.apply([linking("d1", "alice", "1")])
    assert store._linked_devices.covers(1, ["d1"])
    store.apply([linking("d1", "bob", "2")])  # the first user keeps the device
    assert identities() == {"d1": "alice"}

    with pytest.raises(RuntimeError):
        store.apply([linking("d2", "carol", "3"), _Fails()])  # type: ignore[list-item]
    assert identities() == {"d1": "alice"}
    assert not store._linked_devices.covers(1, ["d2"])
    store.apply([linking("d2", "dave", "4")])
    assert identities() == {"d1": "alice", "d2": "dave"}
    assert store.query_rows("SELECT count(*) FROM events")[0][0] == 3


def test_linked_devices_start_again_from_empty_at_their_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(LinkedDevices, "LIMIT", 3)
    known = LinkedDevices()
    known.add(1, ["a", "b"])
    known.add(2, ["a"])
    assert known.covers(1, ["a", "b"]) and known.covers(2, ["a"])
    assert not known.covers(2, ["b"]) and not known.covers(3, [])
    known.add(1, ["b"])  # already known: nothing more to hold
    assert known.covers(1, ["b"])
    known.add(1, ["c"])  # a fourth device: the set starts again, with it alone
    assert known.covers(1, ["c"])
    assert not known.covers(1, ["a"]) and not known.covers(2, ["a"])
