"""Segmentation: how often an event happened over time, optionally broken down.

Mixpanel's ``/segmentation``: ``event`` counted per ``unit`` bucket (hour, day, week or month
of the project's timezone) over inclusive dates, as ``general`` (events), ``unique`` (distinct
users per bucket, after identity merge), ``average`` (events per user per bucket), or the
``sum`` / ``mean`` of a numeric property (``of``; Mixpanel's ``/segmentation/sum`` and
``/segmentation/average``), split by one property (``on``) and filtered (``where``). The response is Mixpanel's::

    {"data": {"series": ["2025-03-01", ...],
              "values": {"<segment or event>": {"2025-03-01": 12, ...}}},
     "legend_size": 1}

Every bucket of the range is in ``series`` and in each segment (0 where nothing happened).
Segments are the ``limit`` largest by total; a property that is unset shows as
``"undefined"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from driftline.errors import InvalidInput
from driftline.model import Project
from driftline.query.filters import parse_filter, parse_property
from driftline.query.source import EventSource, fetch_rows
from driftline.query.sqlbuild import render, template
from driftline.query.timeline import Timeline, check_unit, label

TYPES = ("general", "unique", "average", "sum", "mean")
#: types that aggregate a numeric property (``of``) instead of counting events
NUMERIC_TYPES = ("sum", "mean")


@dataclass(frozen=True)
class SegmentationSpec:
    event: str
    from_date: str
    to_date: str
    unit: str = "day"
    type: str = "general"
    on: str | None = None
    where: str | None = None
    limit: int = 60
    of: str | None = None  # the numeric property of ``sum`` / ``mean``

    def check(self) -> None:
        if not self.event or not str(self.event).strip():
            raise InvalidInput("event is required (the name of the event to count)", field="event")
        check_unit(self.unit, ("minute", "hour", "day", "week", "month"))
        if self.type not in TYPES:
            raise InvalidInput(f"type must be one of {', '.join(TYPES)}", field="type")
        if (self.type in NUMERIC_TYPES) != bool(self.of):
            raise InvalidInput(
                "sum and mean need the numeric property to aggregate (of), and only they take it",
                field="of",
            )
        if not 1 <= int(self.limit) <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000", field="limit")


def build_sql(
    store: Any, project: Project, spec: SegmentationSpec
) -> tuple[str, dict[str, Any], Timeline]:
    spec.check()
    timeline = Timeline.of(project.timezone, spec.from_date, spec.to_date)
    days = (timeline.end - timeline.start).days + 1
    for unit, most in (("minute", 7), ("hour", 366)):
        if spec.unit == unit and days > most:
            raise InvalidInput(
                f"unit {unit} covers at most {most} days; choose a shorter range or a larger unit",
                field="unit",
            )
    source = EventSource(store, project, timeline)
    lo, hi = timeline.lo, timeline.hi
    on = parse_property(spec.on, "on") if spec.on else None
    where = parse_filter(spec.where, "where") if spec.where else None
    columns: dict[str, exp.Expression] = {
        "d": timeline.bucket(spec.unit, source.time(), source.params, lo, hi),
        "s": source.value(on) if on else exp.Literal.string(spec.event),
    }
    per_user = spec.type in ("unique", "average")
    if per_user:
        columns["u"] = source.uid
    if spec.of:  # numbers only: text that is not a number is left out, as Mixpanel does
        of = source.resolver.check(parse_property(spec.of, "of"))
        columns["v"] = exp.TryCast(this=source.resolver.text(of), to=exp.DataType.build("DOUBLE"))
    relation = source.select(
        columns, events=[spec.event], lo=lo, hi=hi, where=[source.condition(where)]
    )
    users = "count(DISTINCT u)" if per_user else "0"
    total = "sum(v) AS total, avg(v) AS mean" if spec.of else "NULL AS total, NULL AS mean"
    sql = template(
        f"SELECT d, s, count(*) AS n, {users} AS users, {total} FROM $rel AS ev GROUP BY d, s",
        rel=exp.paren(relation, copy=False),
    )
    return render(sql), source.params.values, timeline


def segmentation(store: Any, project: Project, spec: SegmentationSpec) -> dict[str, Any]:
    sql, params, timeline = build_sql(store, project, spec)
    rows = fetch_rows(store, sql, params)
    series = [label(t, spec.unit) for t in timeline.bucket_starts(spec.unit)]
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["s"]] = totals.get(row["s"], 0) + row["n"]
    if not spec.on:  # the event's own line, zeros included, even when nothing happened
        totals.setdefault(spec.event, 0)
    keep = sorted(totals, key=lambda s: (-totals[s], s))[: int(spec.limit)]
    values: dict[str, dict[str, float]] = {s: dict.fromkeys(series, 0) for s in keep}
    kept = set(keep)
    for row in rows:
        if row["s"] not in kept:
            continue
        key = label(row["d"], spec.unit)
        if key not in values[row["s"]]:
            continue
        if spec.type == "general":
            value: float = row["n"]
        elif spec.type == "unique":
            value = row["users"]
        elif spec.type == "sum":
            value = round(row["total"] or 0, 6)
        elif spec.type == "mean":
            value = round(row["mean"], 6) if row["mean"] is not None else 0
        else:
            value = round(row["n"] / row["users"], 4) if row["users"] else 0
        values[row["s"]][key] = value
    return {"data": {"series": series, "values": values}, "legend_size": len(values)}
