"""Fixtures for report tests: load a small event log (in a compact notation) into a store."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import pyarrow as pa
import pytest

from driftline.model import EVENT_SCHEMA, Project
from driftline.store import (
    AppendEvents,
    DuckDBStore,
    ReplaceLookupTable,
    UpsertGroups,
    UpsertProfiles,
)

_ids = itertools.count()


def parse_time(value: str | int | float) -> dt.datetime:
    if isinstance(value, int | float):
        return dt.datetime(2025, 1, 1) + dt.timedelta(seconds=value)
    return dt.datetime.fromisoformat(value.replace("Z", ""))


def event_rows(project_id: int, events: list[dict[str, Any]]) -> pa.Table:
    """Events in the notation of the golden files.

    ``{"e": NAME, "t": ISO UTC time or seconds after 2025-01-01, "u": user id, "d": device id,
    "p": {properties}, "id": insert id}`` — ``u`` alone is a user's event, ``d`` alone an
    anonymous device's, both link the device to the user.
    """
    rows = []
    for ev in events:
        user, device = ev.get("u"), ev.get("d")
        rows.append(
            {
                "project_id": project_id,
                "event": ev["e"],
                "time": parse_time(ev["t"]),
                "distinct_id": user if user else f"$device:{device}",
                "device_id": device,
                "user_id": user,
                "insert_id": ev.get("id") or f"i{next(_ids)}",
                "properties": json.dumps(ev.get("p", {})),
                "origin": "import",
                "origin_key": None,
            }
        )
    return pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)


def load(store: DuckDBStore, project: Project, case: dict[str, Any]) -> None:
    """Load a case's events (in batches, in order: later batches replace duplicates),
    profiles, groups and lookup tables."""
    batches = case.get("batches") or [case.get("events", [])]
    for batch in batches:
        store.apply([AppendEvents(event_rows(project.id, batch))])
    if case.get("profiles"):
        table = pa.Table.from_pylist(
            [
                {
                    "project_id": project.id,
                    "distinct_id": k,
                    "properties": json.dumps(v),
                    "origin": "t",
                }
                for k, v in case["profiles"].items()
            ]
        )
        store.apply([UpsertProfiles(table)])
    for key, groups in (case.get("groups") or {}).items():
        table = pa.Table.from_pylist(
            [
                {"project_id": project.id, "group_key": key, "group_id": gid,
                 "properties": json.dumps(props), "origin": "t"}
                for gid, props in groups.items()
            ]
        )  # fmt: skip
        store.apply([UpsertGroups(table)])
    for spec in case.get("lookups") or []:
        rows = pa.Table.from_pylist(
            [
                {"row_id": rid, "properties": json.dumps(props)}
                for rid, props in spec["rows"].items()
            ]
        )
        store.apply(
            [ReplaceLookupTable(project.id, spec["id"], spec["name"], spec["property"], rows)]
        )


class DeleteEvents:
    """What a Mirror sync does when warehouse rows disappear: delete events by insert id."""

    mergeable = False

    def __init__(self, project_id: int, insert_ids: list[str]) -> None:
        self.project_id = project_id
        self.insert_ids = insert_ids
        self.rows = len(insert_ids)

    def apply(self, conn: Any, now: dt.datetime) -> None:
        conn.execute(
            "DELETE FROM events WHERE project_id = ? AND list_contains(?, insert_id)",
            [self.project_id, self.insert_ids],
        )

    def cleanup(self, conn: Any) -> None:
        pass


@pytest.fixture
def make_project(store: DuckDBStore):  # type: ignore[no-untyped-def]
    """``make_project(timezone)``: a fresh project in the store."""
    counter = itertools.count(2)

    def make(timezone: str = "UTC") -> Project:
        return store.create_project(f"p{next(counter)}", timezone)

    return make
