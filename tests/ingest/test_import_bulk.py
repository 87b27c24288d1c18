"""The fast path of `import events` stores exactly what the exact path stores, or nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from driftline.ingest.importer import BulkRefused, ImportReport, import_event_files
from driftline.store import AppendEventStream, DuckDBStore, GroupCommitWriter, InsertEventsQuery

COLUMNS = "event, time, distinct_id, device_id, user_id, insert_id, properties, origin"


def records() -> list[dict[str, Any]]:
    """Every shape of valid record the validation rules treat differently."""
    base = 1_735_689_600
    out: list[dict[str, Any]] = []
    for i in range(300):
        props: dict[str, Any] = {"$insert_id": f"id-{i}", "n": i, "nested": {"a": [1, 2.5, None]}}
        shape = i % 6
        if shape == 0:
            props |= {"time": base + i, "distinct_id": f"user-{i}"}
        elif shape == 1:
            props |= {"time": (base + i) * 1000 + 123, "$device_id": f"dev-{i}"}
        elif shape == 2:
            props |= {"time": f"2025-01-0{1 + i % 9}T10:00:00Z", "$user_id": "u", "$device_id": "d"}
        elif shape == 3:
            props |= {"time": str(base + i), "distinct_id": f"$device:dev-{i}", "é": "ü\u2028"}
        elif shape == 4:
            props |= {"time": base + i + 0.25, "distinct_id": 42, "token": "t", "ip": "1.2.3.4"}
        else:
            props |= {"time": base, "distinct_id": "same", "$insert_id": "dup", "copy": i}
        out.append({"event": ["Sign Up", "Purchase", "Ünïcode ✓"][i % 3], "properties": props})
    return out


def write(path: Path, recs: list[Any], *, blank_lines: bool = False) -> Path:
    sep = "\n\n" if blank_lines else "\n"
    path.write_text(sep.join(json.dumps(r) for r in recs) + "\n")
    return path


def run_import(
    data_dir: Path, paths: list[Path], *, fast: bool
) -> tuple[ImportReport, list[Any], list[Any], list[str]]:
    refused: list[str] = []
    store = DuckDBStore(data_dir)
    project = store.create_project("p")
    writer = GroupCommitWriter(store)

    def bulk(sql: str, params: dict[str, Any], progress: Any) -> Any:
        try:
            return writer.write(InsertEventsQuery(sql, params))
        except duckdb.Error as exc:
            refused.append(str(exc))
            raise BulkRefused() from None

    report = import_event_files(
        paths,
        project_id=project.id,
        sink=lambda tables: writer.write(AppendEventStream(tables)),
        bulk=bulk if fast else None,
        chunk_rows=64,
        commit_rows=128,
    )
    writer.close()
    events = store.query_rows(f"SELECT {COLUMNS} FROM events ORDER BY insert_id, time, event")
    identities = store.query_rows("SELECT device_id, user_id FROM identities ORDER BY 1")
    store.close()
    return report, events, identities, refused


def test_fast_path_stores_what_the_exact_path_stores(tmp_path: Path) -> None:
    source = write(tmp_path / "events.ndjson", records(), blank_lines=True)
    fast_report, fast_events, fast_ids, refused = run_import(tmp_path / "fast", [source], fast=True)
    exact_report, exact_events, exact_ids, _ = run_import(tmp_path / "exact", [source], fast=False)
    assert refused == []  # the clean file went through the fast path
    assert fast_events == exact_events
    assert fast_ids == exact_ids and fast_ids  # identities linked alike
    assert (fast_report.records, fast_report.stored) == (exact_report.records, exact_report.stored)
    # of the 50 copies of one key, the last in the file is kept
    same = [e for e in fast_events if e[5] == "dup"]
    assert len(same) == 1 and json.loads(same[0][6])["copy"] == 299


@pytest.mark.parametrize(
    "bad",
    [
        "{not json",
        '["an", "array"]',
        '{"event": "", "properties": {"time": 1735689600, "distinct_id": "u", "$insert_id": "x"}}',
        '{"event": "E", "properties": {"time": 1735689600, "distinct_id": "u"}}',  # no $insert_id
        '{"event": "E", "properties": {"time": 12, "distinct_id": "u", "$insert_id": "x"}}',
    ],
)
def test_a_file_the_fast_path_does_not_take_goes_the_exact_way(tmp_path: Path, bad: str) -> None:
    recs = [json.dumps(r) for r in records()]
    source = tmp_path / "events.ndjson"
    source.write_text("\n".join([*recs[:200], bad, *recs[200:]]) + "\n")
    fast_report, fast_events, _, refused = run_import(tmp_path / "fast", [source], fast=True)
    exact_report, exact_events, _, _ = run_import(tmp_path / "exact", [source], fast=False)
    assert len(refused) == 1
    assert fast_events == exact_events
    assert [str(e) for e in fast_report.errors] == [str(e) for e in exact_report.errors]
    assert fast_report.invalid == exact_report.invalid


def test_files_are_stored_in_order_across_both_paths(tmp_path: Path) -> None:
    key = {"time": 1735689600, "distinct_id": "u", "$insert_id": "k"}
    first = write(
        tmp_path / "a.ndjson", [{"event": "E", "properties": key | {"v": "a"}}, {"event": ""}]
    )
    second = write(tmp_path / "b.ndjson", [{"event": "E", "properties": key | {"v": "b"}}])
    _, events, _, refused = run_import(tmp_path / "d", [first, second], fast=True)
    assert len(refused) == 1  # a.ndjson took the exact path, b.ndjson the fast one, after it
    assert [json.loads(e[6])["v"] for e in events] == ["b"]


def test_in_a_large_file_the_later_copy_of_a_key_wins(tmp_path: Path) -> None:
    # the store writes large inputs in parallel, where rows can land out of order: the
    # later copy must still win
    n = 200_000
    copies = {7: 1, n // 2: 2, n - 3: 3}
    with (tmp_path / "big.ndjson").open("w") as out:
        for i in range(n):
            props = {"time": 1735689600, "distinct_id": f"u{i}", "$insert_id": f"id-{i}"}
            if i in copies:
                props |= {"distinct_id": "same", "$insert_id": "dup", "copy": copies[i]}
            out.write(json.dumps({"event": "E", "properties": props}) + "\n")
    _, events, _, refused = run_import(tmp_path / "dl", [tmp_path / "big.ndjson"], fast=True)
    assert refused == [] and len(events) == n - 2
    same = [e for e in events if e[5] == "dup"]
    assert len(same) == 1 and json.loads(same[0][6])["copy"] == 3
