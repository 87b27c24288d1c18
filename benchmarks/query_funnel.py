"""A 3-step funnel with a 7-day window on 10M events, against hand-written DuckDB SQL.

Usage: python benchmarks/query_funnel.py DATA_DIR   (DATA_DIR from query_data.py)

Question: Sign Up → Add To Cart → Purchase over the 90 days, uniques, 7-day window from each
user's first sign-up, Mixpanel's two-second grace between steps, devices resolved to users:
counts per step and the average time between steps. Two hand-written baselines answer it — ASOF joins, and range joins with
``min()`` — and the faster one is the reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

from query_timing import compare

from driftline.query.funnels import FunnelSpec, Step, funnel
from driftline.store import DuckDBStore

RESOLVED = """
ev AS (
  SELECT coalesce(i.user_id, e.distinct_id) AS u, e.time AS t, e.event
  FROM events e LEFT JOIN identities i
    ON i.project_id = 1 AND i.device_id = CASE WHEN e.user_id IS NULL THEN e.device_id END
  WHERE e.project_id = 1 AND e.event IN ('Sign Up', 'Add To Cart', 'Purchase')
    AND e.time >= TIMESTAMP '2025-01-01' AND e.time < TIMESTAMP '2025-04-08'),
a AS (SELECT u, min(t) AS t1 FROM ev WHERE event = 'Sign Up' AND t < TIMESTAMP '2025-04-01' GROUP BY u)
"""
STATS = """
SELECT count(t1), count(t2), count(t3),
       avg(CASE WHEN t2 IS NOT NULL THEN greatest(epoch_ms(t2) - epoch_ms(t1), 0) END),
       avg(CASE WHEN t3 IS NOT NULL THEN greatest(epoch_ms(t3) - epoch_ms(t2), 0) END)
"""
ASOF = f"""
WITH {RESOLVED},
s2 AS (SELECT u, t FROM ev WHERE event = 'Add To Cart'),
s3 AS (SELECT u, t FROM ev WHERE event = 'Purchase'),
b AS (SELECT a.u, a.t1, CASE WHEN s2.t <= a.t1 + INTERVAL 7 DAY THEN s2.t END AS t2
      FROM a ASOF LEFT JOIN s2 ON s2.u = a.u AND s2.t >= a.t1 - INTERVAL 2 SECOND),
c AS (SELECT b.*, CASE WHEN s3.t <= b.t1 + INTERVAL 7 DAY THEN s3.t END AS t3
      FROM b ASOF LEFT JOIN s3 ON s3.u = b.u AND s3.t >= b.t2 - INTERVAL 2 SECOND)
{STATS} FROM c
"""
RANGE = f"""
WITH {RESOLVED},
b AS (SELECT a.u, a.t1, min(e.t) AS t2 FROM a LEFT JOIN ev e
        ON e.u = a.u AND e.event = 'Add To Cart' AND e.t >= a.t1 - INTERVAL 2 SECOND AND e.t <= a.t1 + INTERVAL 7 DAY
      GROUP BY a.u, a.t1),
c AS (SELECT b.u, b.t1, b.t2, min(e.t) AS t3 FROM b LEFT JOIN ev e
        ON e.u = b.u AND e.event = 'Purchase' AND e.t >= b.t2 - INTERVAL 2 SECOND AND e.t <= b.t1 + INTERVAL 7 DAY
      GROUP BY b.u, b.t1, b.t2)
{STATS} FROM c
"""


def main(data_dir: Path) -> None:
    store = DuckDBStore(data_dir)
    project = store.get_project(1)
    spec = FunnelSpec(
        steps=(Step("Sign Up"), Step("Add To Cart"), Step("Purchase")),
        from_date="2025-01-01",
        to_date="2025-03-31",
        window="7d",
    )

    def ours() -> list[int]:
        return [s["count"] for s in funnel(store, project, spec)["steps"]]

    def hand(sql: str):  # type: ignore[no-untyped-def]
        return lambda: list(store.query_rows(sql)[0][:3])

    def same(a: object, b: object) -> None:
        assert a == b, f"driftline {a} and the hand-written SQL {b} disagree"

    compare(
        "funnel, 3 steps, 7-day window",
        ours,
        {"asof": hand(ASOF), "range-join": hand(RANGE)},
        check=same,
    )
    store.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
