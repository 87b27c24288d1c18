"""Retention: of the users who did A, how many came back to do B, interval by interval.

Rules (Mixpanel's retention report and ``/retention`` API):

* ``birth`` ("first time"): a user is born at the first time they ever did the born event
  (matching ``born_where``), and belongs to the cohort of the calendar ``unit`` (day, week,
  month; project timezone) that moment falls in, if it is inside the date range.
  ``compounded`` ("recurring"): a user belongs to the cohort of every bucket in the range in
  which they did the return event, anchored at their first such event in that bucket.
* Intervals are rolling from the user's birth (or anchor): interval 0 is the first
  ``unit`` after it (a day is 24 hours, a week 7 days, a month 30 days), interval K the
  K-th. ``counts[K]`` counts users who did the return event (matching ``where``) in interval
  K — the birth event itself never counts as a return; a different event at the same
  millisecond does.
* ``on`` mode (``unbounded_retention=false``, Mixpanel's API default) counts a user in each
  interval they returned in; ``on or after`` (``unbounded_retention=true``) counts them in
  every interval up to the last one they returned in.
* ``first`` is the cohort's size; ``rates[K] = counts[K] / first``. Intervals that have not
  started yet are left out, so a young cohort has a shorter ``counts``.
* A breakdown (``on``) splits cohorts by the value on the birth event (or the user's,
  group's or lookup's property through the property model).

Response (Mixpanel's shape, with ``rates`` added)::

    {"2025-03-03": {"counts": [40, 12, 9], "first": 100, "rates": [0.4, 0.12, 0.09]}, ...}

and with ``on``: ``{"2025-03-03": {"$overall": {...}, "US": {...}, ...}, ...}``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from driftline.errors import InvalidInput
from driftline.model import Project
from driftline.query.filters import parse_filter, parse_property
from driftline.query.source import EventSource, fetch_rows
from driftline.query.sqlbuild import render, template
from driftline.query.timeline import UNIT_LENGTH, Timeline, check_unit, label

EPOCH = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class RetentionSpec:
    born_event: str | None
    event: str | None
    from_date: str
    to_date: str
    unit: str = "day"
    type: str = "birth"
    intervals: int | None = None
    unbounded: bool = False
    born_where: str | None = None
    where: str | None = None
    on: str | None = None
    limit: int = 60

    def check(self) -> None:
        check_unit(self.unit, ("day", "week", "month"))
        if self.type not in ("birth", "compounded"):
            raise InvalidInput("retention type must be birth or compounded", field="retention_type")
        if self.type == "birth" and not (self.born_event or "").strip():
            raise InvalidInput(
                "born_event is required for birth retention (the event that puts a user in a cohort)",
                field="born_event",
            )
        if self.type == "compounded" and not (self.event or "").strip():
            raise InvalidInput("event is required for compounded retention", field="event")
        if self.intervals is not None and not 1 <= int(self.intervals) <= 400:
            raise InvalidInput("intervals must be between 1 and 400", field="interval_count")
        if not 1 <= int(self.limit) <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000", field="limit")


def _intervals(spec: RetentionSpec, timeline: Timeline) -> int:
    if spec.intervals is not None:
        return int(spec.intervals)
    return max(1, min(100, len(timeline.bucket_starts(spec.unit))))


def build_sql(
    store: Any, project: Project, spec: RetentionSpec
) -> tuple[str, dict[str, Any], Timeline, int]:
    spec.check()
    timeline = Timeline.of(project.timezone, spec.from_date, spec.to_date)
    n = _intervals(spec, timeline)
    unit = UNIT_LENGTH[spec.unit]
    source = EventSource(store, project, timeline)
    params = source.params
    lo, hi = timeline.lo, timeline.hi
    on = parse_property(spec.on, "on") if spec.on else None
    sv = source.value(on) if on else exp.Literal.string("")
    birth = spec.type == "birth"
    born_name = spec.born_event if birth else spec.event
    born_where = spec.born_where if birth else spec.where
    born_cond = [source.condition(parse_filter(born_where, "born_where"))] if born_where else []
    return_cond = [source.condition(parse_filter(spec.where, "where"))] if spec.where else []
    # One scan: births look at all history up to the range end (first time ever; anchors of
    # compounded cohorts only at the range), returns up to the last interval's end.
    is_born = (
        exp.and_(source.event().eq(params.bind(born_name)), *born_cond)
        if born_name
        else exp.and_(exp.true(), *born_cond)
    )
    is_ret = (
        exp.and_(source.event().eq(params.bind(spec.event)), *return_cond)
        if spec.event
        else exp.and_(exp.true(), *return_cond)
    )
    names = [born_name, spec.event] if born_name and spec.event else None
    relation = source.select(
        {
            "u": source.uid,
            "t": source.time(),
            "fb": exp.func("coalesce", is_born, exp.false()),
            "fr": exp.func("coalesce", is_ret, exp.false()),
            "sv": exp.Case().when(is_born.copy(), sv).else_(exp.null()) if on else sv,
        },
        events=names,
        lo=EPOCH if birth else lo,
        hi=hi + unit * n,
    )
    cohort = timeline.bucket(spec.unit, exp.column("bt"), params, lo, hi)
    same = born_name == spec.event or not spec.event
    # A return must come after the birth event; an event of another name may share its ms.
    after = "r.t > b.bt" if same else "r.t >= b.bt"
    if birth:
        born_sql = (
            "SELECT u, min(t) AS bt, arg_min(sv, t) AS sv FROM born_ev GROUP BY u "
            "HAVING min(t) >= $lo"
        )
    else:
        born_sql = (
            "SELECT u, bk, min(t) AS bt, arg_min(sv, t) AS sv FROM "
            "(SELECT *, $bucket_t AS bk FROM born_ev) GROUP BY u, bk"
        )
    if spec.unbounded:  # each user once, at the last interval they came back in
        cells_sql = (
            "cells AS (SELECT c, sv, mk AS k, 0 AS on_k, count(*) AS last_k FROM "
            "(SELECT u, c, sv, max(k) AS mk FROM hits GROUP BY u, c, sv) GROUP BY c, sv, mk)"
        )
    else:  # each user once per interval they came back in
        cells_sql = (
            "cells AS (SELECT c, sv, k, count(*) AS on_k, 0 AS last_k FROM "
            "(SELECT DISTINCT u, c, sv, k FROM hits) GROUP BY c, sv, k)"
        )
    sql = f"""
    WITH ev AS ($rel),
         born_ev AS (SELECT u, t, sv FROM ev WHERE fb AND t < $hi),
         ret AS (SELECT u, t FROM ev WHERE fr AND t >= $lo),
         born0 AS ({born_sql}),
         born AS (SELECT u, bt, sv, $cohort AS c FROM born0),
         hits AS (
           SELECT b.u, b.c, b.sv,
                  CAST(floor((epoch_ms(r.t) - epoch_ms(b.bt)) / $unit_ms) AS INTEGER) AS k
           FROM born b JOIN ret r ON r.u = b.u AND {after} AND r.t < b.bt + $span),
         sizes AS (SELECT c, sv, count(*) AS first FROM born GROUP BY c, sv),
         {cells_sql}
    SELECT 'size' AS kind, c, sv, -1 AS k, first AS on_k, 0 AS last_k FROM sizes
    UNION ALL
    SELECT 'cell' AS kind, c, sv, k, on_k, last_k FROM cells
    """
    bucket_t = timeline.bucket(spec.unit, exp.column("t"), params, lo, hi)
    expression = template(
        sql,
        rel=relation,
        hi=params.bind(hi),
        cohort=cohort,
        bucket_t=bucket_t,
        lo=params.bind(lo),
        unit_ms=exp.Literal.number(int(unit.total_seconds() * 1000)),
        span=exp.cast(params.bind(unit * n), exp.DataType.build("INTERVAL")),
    )
    return render(expression), params.values, timeline, n


def retention(
    store: Any, project: Project, spec: RetentionSpec, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    sql, params, timeline, n = build_sql(store, project, spec)
    rows = fetch_rows(store, sql, params)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    unit = UNIT_LENGTH[spec.unit]
    # (cohort label, segment) -> first, on[k], last[k]
    sizes: dict[tuple[str, str], int] = {}
    on_k: dict[tuple[str, str], list[int]] = {}
    last_k: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        key = (label(row["c"], spec.unit), row["sv"])
        if row["kind"] == "size":
            sizes[key] = int(row["on_k"])
            continue
        k = int(row["k"])
        if 0 <= k < n:
            on_k.setdefault(key, [0] * n)[k] += int(row["on_k"])
            last_k.setdefault(key, [0] * n)[k] += int(row["last_k"])

    def cell(keys: list[tuple[str, str]], cohort_start: dt.datetime) -> dict[str, Any]:
        first = sum(sizes.get(k, 0) for k in keys)
        counts = [0] * n
        for k in keys:
            if spec.unbounded:
                running = 0
                lasts = last_k.get(k, [0] * n)
                for i in range(n - 1, -1, -1):
                    running += lasts[i]
                    counts[i] += running
            else:
                for i, v in enumerate(on_k.get(k, [0] * n)):
                    counts[i] += v
        started = _started(cohort_start, unit, n, timeline, now)
        counts = counts[:started]
        rates = [round(c / first, 6) if first else 0.0 for c in counts]
        return {"counts": counts, "first": first, "rates": rates}

    segments_total: dict[str, int] = {}
    for (_, seg), size in sizes.items():
        segments_total[seg] = segments_total.get(seg, 0) + size
    keep = sorted(segments_total, key=lambda s: (-segments_total[s], s))[: int(spec.limit)]
    result: dict[str, Any] = {}
    for start in timeline.bucket_starts(spec.unit):
        date = label(start, spec.unit)
        keys = [k for k in sizes if k[0] == date]
        if not keys:
            continue
        if spec.on:
            entry = {"$overall": cell(keys, start)}
            for seg in keep:
                if (date, seg) in sizes:
                    entry[seg] = cell([(date, seg)], start)
            result[date] = entry
        else:
            result[date] = cell(keys, start)
    return result


def _started(
    cohort_start: dt.datetime, unit: dt.timedelta, n: int, timeline: Timeline, now: dt.datetime
) -> int:
    """How many intervals of a cohort have begun by ``now`` (at least 1)."""
    start_utc = timeline.utc(cohort_start)
    if now <= start_utc:
        return 1
    return max(1, min(n, int((now - start_utc) / unit) + 1))
