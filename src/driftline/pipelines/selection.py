"""Which events a step exports, as a SQL predicate with bound parameters.

A step is deterministic: the same selection over the same store gives the same events, so
a step run again (after a kill) writes the same files with the same content.

* **sync steps** take the events committed in an ingest-time window ``[ingest_lo,
  ingest_hi)``; an event lands in its event-time partition however late it arrived.
* **no-sync steps** take the same window but leave out *late* events: those committed more
  than :data:`LATE_AFTER` after their partition closed (Mixpanel's definition of late data).
* **backfill chunks** take the history a pipeline found when it was created: events committed
  before its ``cutoff`` whose event time is in ``[time_lo, time_hi)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from driftline.pipelines.layout import Clock, partition_end_sql

LATE_AFTER = dt.timedelta(hours=2)


@dataclass(frozen=True)
class Selection:
    project_id: int
    ingest_lo: dt.datetime | None = None
    ingest_hi: dt.datetime | None = None
    time_lo: dt.datetime | None = None
    time_hi: dt.datetime | None = None
    drop_late: bool = False

    def where(self, clock: Clock, prefix: str = "sel") -> tuple[str, dict[str, Any]]:
        """``(predicate, params)`` over the ``events`` table; parameters are bound."""
        terms = [f"project_id = ${prefix}_pid"]
        params: dict[str, Any] = {f"{prefix}_pid": self.project_id}
        bounds = (
            ("ingested_at >=", "ingest_lo", self.ingest_lo),
            ("ingested_at <", "ingest_hi", self.ingest_hi),
            ("time >=", "time_lo", self.time_lo),
            ("time <", "time_hi", self.time_hi),
        )
        for op, name, value in bounds:
            if value is not None:
                terms.append(f"{op} ${prefix}_{name}::TIMESTAMP")
                params[f"{prefix}_{name}"] = value
        if self.drop_late:
            terms.append(f"ingested_at < {partition_end_sql(clock)} + ${prefix}_late")
            params[f"{prefix}_late"] = LATE_AFTER
        return " AND ".join(terms), params
