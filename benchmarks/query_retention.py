"""12-week retention on 10M events, against hand-written DuckDB SQL.

Usage: python benchmarks/query_retention.py DATA_DIR   (DATA_DIR from query_data.py)

Question: users born at their first-ever "Sign Up" in 2025-01-06 … 2025-03-30, weekly
cohorts, and how many did "Log In" in each of the 12 following 7-day intervals (mode "on"),
devices resolved to users. The answer compared: each cohort's size and its counts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from query_timing import compare

from driftline.query.retention import RetentionSpec, retention
from driftline.store import DuckDBStore

HAND = """
WITH ev AS (
  SELECT coalesce(i.user_id, e.distinct_id) AS u, e.time AS t, e.event
  FROM events e LEFT JOIN identities i
    ON i.project_id = 1 AND i.device_id = CASE WHEN e.user_id IS NULL THEN e.device_id END
  WHERE e.project_id = 1 AND e.event IN ('Sign Up', 'Log In') AND e.time < TIMESTAMP '2025-06-23'),
born AS (
  SELECT u, min(t) AS bt FROM ev WHERE event = 'Sign Up' AND t < TIMESTAMP '2025-03-31'
  GROUP BY u HAVING min(t) >= TIMESTAMP '2025-01-06'),
hits AS (
  SELECT DISTINCT b.u, date_trunc('week', b.bt) AS c,
         CAST(floor((epoch_ms(r.t) - epoch_ms(b.bt)) / 604800000) AS INTEGER) AS k
  FROM born b JOIN ev r ON r.u = b.u AND r.event = 'Log In'
   AND r.t >= b.bt AND r.t < b.bt + INTERVAL 84 DAY)
SELECT c, k, count(*) FROM hits GROUP BY c, k
UNION ALL
SELECT date_trunc('week', bt) AS c, -1 AS k, count(*) FROM born GROUP BY c
"""


def main(data_dir: Path) -> None:
    store = DuckDBStore(data_dir)
    project = store.get_project(1)
    spec = RetentionSpec(
        born_event="Sign Up",
        event="Log In",
        from_date="2025-01-06",
        to_date="2025-03-30",
        unit="week",
        intervals=12,
    )

    def ours() -> dict[tuple[str, int], int]:
        out = {}
        for date, cell in retention(store, project, spec).items():
            out[(date, -1)] = cell["first"]  # cohort size
            for k, n in enumerate(cell["counts"]):
                if n:
                    out[(date, k)] = n
        return out

    def hand() -> dict[tuple[str, int], int]:
        return {(c.strftime("%Y-%m-%d"), k): n for c, k, n in store.query_rows(HAND)}

    def same(a: object, b: object) -> None:
        assert a == b, "driftline and the hand-written SQL disagree"

    compare("retention, weekly cohorts, 12 intervals", ours, {"hand": hand}, check=same)
    store.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
