"""Golden files: events in, a query, the numbers a user expects (``golden/*.json``).

Each file holds an event log (see ``conftest.event_rows`` for the notation), optional
profiles, groups, lookup tables and deletions, and cases of ``query`` → ``expected``. The
``about`` line of each file says which rule it pins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from driftline.query.funnels import funnel
from driftline.query.profiles import ProfileQuery, query_profiles
from driftline.query.retention import RetentionSpec, retention
from driftline.query.segmentation import SegmentationSpec, segmentation
from driftline.server.operations.query import funnel_spec
from driftline.store import DuckDBStore

from .conftest import DeleteEvents, load

GOLDEN = Path(__file__).parent / "golden"
CASES = [
    pytest.param(path, i, id=f"{path.stem}[{i}]")
    for path in sorted(GOLDEN.glob("*.json"))
    for i in range(len(json.loads(path.read_text())["cases"]))
]


def run_query(store: DuckDBStore, project: Any, query: dict[str, Any]) -> Any:
    query = dict(query)
    report = query.pop("report")
    if report == "segmentation":
        return segmentation(store, project, SegmentationSpec(**query))
    if report == "funnel":
        steps = query.pop("steps")
        exclude = query.pop("exclude", [])
        return funnel(store, project, funnel_spec(steps, exclude, query))
    if report == "retention":
        query.setdefault("born_event", None)
        query.setdefault("event", None)
        return retention(store, project, RetentionSpec(**query))
    if report == "profiles":
        query["distinct_ids"] = tuple(query.get("distinct_ids", ()))
        return query_profiles(store, project, ProfileQuery(**query))
    raise AssertionError(report)


def project_result(report: str, result: Any, expected: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``result`` that ``expected`` names, in the same shape."""
    got: dict[str, Any] = {}
    if report == "segmentation":
        data = result["data"]
        for key in expected:
            if key == "series":
                got[key] = data["series"]
            elif key == "values":
                got[key] = data["values"]
            elif key == "series_len":
                got[key] = len(data["series"])
            elif key == "nonzero":
                got[key] = {d: v for vals in data["values"].values() for d, v in vals.items() if v}
        return got
    if report == "funnel":
        for key in expected:
            if key == "counts":
                got[key] = [s["count"] for s in result["steps"]]
            elif key in ("avg_time", "median_time", "avg_time_from_start"):
                got[key] = [s[key] for s in result["steps"]]
            elif key == "segments":
                got[key] = {k: [s["count"] for s in v] for k, v in result["segments"].items()}
            elif key == "dates":
                cells = result["data"]
                got[key] = {  # the dates the case names
                    d: [
                        s["count"]
                        for s in (
                            cells[d]["steps"] if "steps" in cells[d] else cells[d]["$overall"]
                        )
                    ]
                    for d in expected[key]
                }
        return got
    if report == "retention":

        def cell(c: dict[str, Any]) -> dict[str, Any]:
            return {"first": c["first"], "counts": c["counts"]}

        for date, value in result.items():
            got[date] = cell(value) if "first" in value else {k: cell(v) for k, v in value.items()}
        return got
    if report == "profiles":
        id_key = (
            "$group_id"
            if result["results"] and "$group_id" in result["results"][0]
            else "$distinct_id"
        )
        return {"total": result["total"], "ids": [r[id_key] for r in result["results"]]}
    raise AssertionError(report)


@pytest.mark.parametrize(("path", "index"), CASES)
def test_golden(store: DuckDBStore, make_project: Any, path: Path, index: int) -> None:
    spec = json.loads(path.read_text())
    project = make_project(spec.get("timezone", "UTC"))
    load(store, project, spec)
    if spec.get("delete"):
        store.apply([DeleteEvents(project.id, spec["delete"])])
    case = spec["cases"][index]
    result = run_query(store, project, case["query"])
    assert project_result(case["query"]["report"], result, case["expected"]) == case["expected"]
