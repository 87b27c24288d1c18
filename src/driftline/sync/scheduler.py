"""Which scheduled syncs are due.

A sync with ``every`` runs when it has never run, or when one period has passed since its
last run started. A sync that is already running is left alone (one run per sync at a
time); transient failures are retried with backoff by :mod:`driftline.sync.runs`, and the
next scheduled run comes one period after the last attempt started.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from driftline.store import DuckDBStore
from driftline.sync.spec import next_due


@dataclass(frozen=True)
class DueSync:
    project_id: int
    name: str
    every: str


def due_syncs(store: DuckDBStore, now: dt.datetime) -> list[DueSync]:
    rows = store.query_rows(
        """SELECT s.project_id, s.name, s.spec, max(r.started_at)
           FROM syncs s LEFT JOIN sync_runs r ON r.project_id = s.project_id AND r.sync_name = s.name
           GROUP BY ALL ORDER BY s.project_id, s.name"""
    )
    out = []
    for project_id, name, spec_json, last in rows:
        spec = json.loads(spec_json)
        every = spec.get("every")
        if not every or spec.get("mode") == "one-time":
            continue
        if next_due(every, last, now) <= now:
            out.append(DueSync(int(project_id), str(name), every))
    return out
