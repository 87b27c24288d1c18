"""Segmentation by day with a breakdown on 10M events, against hand-written DuckDB SQL.

Usage: python benchmarks/query_segmentation.py DATA_DIR   (DATA_DIR from query_data.py)

Question: daily count of "View Page" (about 3 million of the 10 million events) over the
90 days, broken down by the event property ``plan`` — once for a UTC project and once for a
project in America/New_York (days in local time, across the March DST change), where the
hand-written SQL converts with DuckDB's ``timezone()``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from query_timing import compare

from driftline.query.segmentation import SegmentationSpec, segmentation
from driftline.store import DuckDBStore

HAND = """
SELECT date_trunc('day', time) AS d, coalesce(properties->>'plan', 'undefined') AS s, count(*) AS n
FROM events
WHERE project_id = 1 AND event = 'View Page'
  AND time >= TIMESTAMP '2025-01-01' AND time < TIMESTAMP '2025-04-01'
GROUP BY ALL
"""


HAND_TZ = """
SELECT date_trunc('day', timezone('America/New_York', time::TIMESTAMPTZ)) AS d,
       coalesce(properties->>'plan', 'undefined') AS s, count(*) AS n
FROM events
WHERE project_id = 1 AND event = 'View Page'
  AND time >= TIMESTAMP '2025-01-01 05:00' AND time < TIMESTAMP '2025-04-01 04:00'
GROUP BY ALL
"""


def main(data_dir: Path) -> None:
    store = DuckDBStore(data_dir)
    project = store.get_project(1)
    spec = SegmentationSpec(
        event="View Page", from_date="2025-01-01", to_date="2025-03-31", unit="day", on="plan"
    )

    def ours() -> dict[tuple[str, str], int]:
        values = segmentation(store, project, spec)["data"]["values"]
        return {(d, s): n for s, days in values.items() for d, n in days.items() if n}

    def hand() -> dict[tuple[str, str], int]:
        rows = store.query_rows(HAND)
        return {(r[0].strftime("%Y-%m-%d"), r[1]): r[2] for r in rows}

    def same(a: object, b: object) -> None:
        assert a == b, "driftline and the hand-written SQL disagree"

    compare(
        "segmentation by day on plan (View Page, 3.0M of 10M events)",
        ours,
        {"hand": hand},
        check=same,
    )

    # the same events read as a project in New York
    ny = dataclasses.replace(project, timezone="America/New_York")

    def ours_ny() -> dict[tuple[str, str], int]:
        values = segmentation(store, ny, spec)["data"]["values"]
        return {(d, s): n for s, days in values.items() for d, n in days.items() if n}

    def hand_ny() -> dict[tuple[str, str], int]:
        rows = store.query_rows(HAND_TZ)
        return {(r[0].strftime("%Y-%m-%d"), r[1]): r[2] for r in rows}

    compare(
        "segmentation by local day on plan, America/New_York",
        ours_ny,
        {"hand-timezone()": hand_ny},
        check=same,
    )
    store.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
