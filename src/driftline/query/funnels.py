"""Funnels: who goes through a sequence of steps, and how fast.

Rules (Mixpanel's funnels; the golden tests in ``tests/query`` pin each one):

* **Entry.** A user enters when they do step 1 inside the date range (project timezone,
  inclusive). With ``uniques`` (the default) a user enters once — at their first step-1 event
  in the range — per breakdown segment. With ``totals`` they enter again after each exit:
  conversion (last step done), the window running out, or an exclusion event; the next entry
  is the first step-1 event after that exit.
* **Window.** Every later step must happen at most ``window`` (default 7 days, at most 366)
  after the entry's step-1 event; later step-1 events do not reset the clock. Later steps may
  fall after the date range.
* **Order.** ``specific``: each step is matched by the first qualifying event at or after the
  previous step (other events may happen in between), with Mixpanel's two-second grace: an
  event up to 2 s *before* the previous step still completes the next one, since clocks and
  SDK batching reorder events that close. One event completes at most one step: a step whose
  event name also appears in an earlier step needs an event strictly later than every step
  so far. Times between steps done in grace count as 0 s. ``any``: the steps may be done in
  any order; step N counts entries that completed N distinct steps within the window, and
  the times are between the N-1-th and N-th completed step.
* **Exclusions** between steps K and K+1: an exclusion event strictly after step K and
  strictly before the event that would complete step K+1 ends the entry at step K (at the
  same millisecond as either step it does not).
* **Hold a property constant:** every step must carry the step-1 event's value of the
  property (unset counts as a value, ``undefined``).
* **Breakdown** (``by``): by the value on the entry's step-1 event (user, group and lookup
  properties through the property model).
* **Per date** (``unit``): entries are grouped by the bucket of their step-1 event — one
  funnel over the range, segmented by entry date, so the dates add up to the whole.
* Identity: steps done on a device before sign-up belong to the user the device merged into.

The computation is SQL: each step is a range join finding the first qualifying event after
the previous step inside the window, so a 3-step funnel is two joins on the user. Re-entry
(``totals``) computes the steps for every step-1 event at once, in an in-memory DuckDB over
the step events pulled from the store once, and follows each user's chain of entries in
numpy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlglot import exp

from driftline.errors import InvalidInput
from driftline.model import Project
from driftline.query.filters import parse_filter, parse_property
from driftline.query.source import EventSource, fetch_rows
from driftline.query.sqlbuild import Params, render, template
from driftline.query.timeline import Timeline, check_unit, label

MAX_WINDOW = dt.timedelta(days=366)
#: Mixpanel's grace period: a step up to this long before the previous one still counts
GRACE = dt.timedelta(seconds=2)
GRACE_SQL = "INTERVAL 2 SECOND"
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_WINDOW_UNITS = {
    "s": "seconds",
    "m": "minutes",
    "h": "hours",
    "d": "days",
    "w": "weeks",
    "": "days",
}


@dataclass(frozen=True)
class Step:
    event: str
    where: str | None = None


@dataclass(frozen=True)
class Exclusion:
    """An event that ends an entry when it happens between steps ``after`` and ``before``."""

    event: str
    after: int = 1  # 1-based step
    before: int | None = None  # default: the last step


@dataclass(frozen=True)
class FunnelSpec:
    steps: tuple[Step, ...]
    from_date: str
    to_date: str
    window: str = "7d"
    order: str = "specific"
    count: str = "uniques"
    exclusions: tuple[Exclusion, ...] = ()
    hold: str | None = None
    by: str | None = None
    where: str | None = None
    unit: str | None = None
    limit: int = 255

    def check(self) -> dt.timedelta:
        if not 2 <= len(self.steps) <= 30:
            raise InvalidInput("a funnel needs 2 to 30 steps", field="steps")
        for i, step in enumerate(self.steps, 1):
            if not step.event or not step.event.strip():
                raise InvalidInput(f"step {i} has no event name", field="steps")
        if self.order not in ("specific", "any"):
            raise InvalidInput("order must be specific or any", field="order")
        if self.count not in ("uniques", "totals"):
            raise InvalidInput("count must be uniques or totals", field="count")
        if self.unit is not None:
            check_unit(self.unit, ("day", "week", "month"))
        if self.order == "any" and (self.exclusions or self.hold or self.count == "totals"):
            raise InvalidInput(
                "order any works with uniques counting, without exclusions or a held property",
                field="order",
            )
        n = len(self.steps)
        for x in self.exclusions:
            before = x.before or n
            if not (1 <= x.after < before <= n):
                raise InvalidInput(
                    f"exclusion {x.event!r}: steps must satisfy 1 <= after < before <= {n}",
                    field="exclude",
                )
        if not 1 <= int(self.limit) <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000", field="limit")
        return parse_window(self.window)


def parse_window(text: str) -> dt.timedelta:
    match = _WINDOW.match(str(text))
    if not match:
        raise InvalidInput(
            f"window {text!r} is not a duration; use e.g. 7d, 12h, 30m or 2w", field="window"
        )
    value = float(match.group(1))
    window = dt.timedelta(**{_WINDOW_UNITS[match.group(2)]: value})
    if window <= dt.timedelta(0) or window > MAX_WINDOW:
        raise InvalidInput("window must be more than 0 and at most 366 days", field="window")
    return window


def parse_exclusion(text: str) -> Exclusion:
    """``NAME`` (between any two steps) or ``NAME@K-M`` (between steps K and M)."""
    name, sep, where = text.rpartition("@")
    if sep and re.fullmatch(r"\d+-\d+", where.strip()):
        after, before = (int(v) for v in where.split("-"))
        return Exclusion(name, after, before)
    return Exclusion(text)


# ------------------------------------------------------------------ SQL
@dataclass
class _Plan:
    spec: FunnelSpec
    window: dt.timedelta
    timeline: Timeline
    source: EventSource
    relation: exp.Select = field(init=False)

    @property
    def n(self) -> int:
        return len(self.spec.steps)

    @property
    def params(self) -> Params:
        return self.source.params


def _plan(store: Any, project: Project, spec: FunnelSpec) -> _Plan:
    window = spec.check()
    timeline = Timeline.of(project.timezone, spec.from_date, spec.to_date)
    source = EventSource(store, project, timeline)
    plan = _Plan(spec, window, timeline, source)
    lo, hi = timeline.lo, timeline.hi
    by = parse_property(spec.by, "by") if spec.by else None
    hold = parse_property(spec.hold, "hold") if spec.hold else None
    global_where = source.condition(parse_filter(spec.where, "where")) if spec.where else None
    e_name = source.event()
    columns: dict[str, exp.Expression] = {"u": source.uid, "t": source.time()}
    for i, step in enumerate(spec.steps, 1):
        cond = e_name.eq(plan.params.bind(step.event))
        if step.where:
            cond = exp.and_(cond, source.condition(parse_filter(step.where, f"steps[{i}].where")))
        columns[f"m{i}"] = exp.func("coalesce", cond, exp.false())
    for k in range(1, len(spec.steps)):
        names = sorted({x.event for x in spec.exclusions if x.after <= k < (x.before or plan.n)})
        if names:
            columns[f"x{k}"] = exp.func(
                "list_contains",
                exp.cast(plan.params.bind(names), exp.DataType.build("VARCHAR[]")),
                e_name,
            )
    columns["sv"] = source.value(by) if by else exp.Literal.string("")
    columns["hv"] = source.value(hold) if hold else exp.Literal.string("")
    if spec.unit:
        columns["b"] = timeline.bucket(spec.unit, source.time(), plan.params, lo, hi)
    else:
        columns["b"] = exp.cast(
            exp.Literal.string(timeline.start.isoformat()), exp.DataType.build("TIMESTAMP")
        )
    names = [s.event for s in spec.steps] + [x.event for x in spec.exclusions]
    where = [global_where] if global_where is not None else []
    plan.relation = source.select(columns, events=names, lo=lo, hi=hi + window, where=where)
    return plan


def _step_ctes(plan: _Plan) -> list[str]:
    """``s1..sN`` (events of each step) and ``xK`` (exclusions after step K) over ``ev``."""
    ctes = [f"s{i} AS (SELECT u, t, hv FROM ev WHERE m{i})" for i in range(2, plan.n + 1)]
    for k in range(1, plan.n):
        if _has_exclusion(plan, k):
            ctes.append(f"x{k} AS (SELECT u, t FROM ev WHERE x{k})")
    return ctes


def _has_exclusion(plan: _Plan, k: int) -> bool:
    return any(x.after <= k < (x.before or plan.n) for x in plan.spec.exclusions)


def _chain_ctes(plan: _Plan) -> list[str]:
    """``c2..cN``: each adds ``tK`` (step K's time, NULL if not reached) and ``xtK-1`` (the
    first exclusion event after step K-1 within the window).

    Each step is a range join on the user: the earliest qualifying event at or after the
    previous step and within the window (``min``), which is the greedy match that the rules
    define; rows of ``c`` are unique, so ``GROUP BY ALL`` keeps one row per entry.
    """
    ctes = []
    hold = " AND n.hv = c.hv" if plan.spec.hold else ""
    for k in range(2, plan.n + 1):
        earlier = {s.event for s in plan.spec.steps[: k - 1]}
        prev = f"t{k - 1}"
        if plan.spec.steps[k - 1].event in earlier:
            # a repeated event: strictly after every step so far, so no event counts twice
            latest = f"greatest({', '.join(f'c.t{j}' for j in range(1, k))})"
            after = f"c.{prev} IS NOT NULL AND n.t > {latest}"
        else:  # the two-second grace: up to 2 s before the previous step still counts
            after = f"n.t >= c.{prev} - {GRACE_SQL}"
        step = (
            f"SELECT c.*, min(n.t) AS nt FROM c{k - 1} c LEFT JOIN s{k} n "
            f"ON n.u = c.u{hold} AND {after} AND n.t <= c.t1 + $win GROUP BY ALL"
        )
        if _has_exclusion(plan, k - 1):
            ctes.append(f"n{k} AS ({step})")
            ctes.append(
                f"""e{k} AS (
                  SELECT c.*, min(x.t) AS xt{k - 1} FROM n{k} c LEFT JOIN x{k - 1} x
                  ON x.u = c.u AND x.t > c.{prev} AND x.t <= c.t1 + $win GROUP BY ALL)"""
            )
            ctes.append(
                f"c{k} AS (SELECT * EXCLUDE (nt), CASE WHEN xt{k - 1} IS NULL OR nt <= xt{k - 1} "
                f"THEN nt END AS t{k} FROM e{k})"
            )
        else:
            ctes.append(f"n{k} AS ({step})")
            ctes.append(
                f"c{k} AS (SELECT * EXCLUDE (nt), NULL::TIMESTAMP AS xt{k - 1}, nt AS t{k} FROM n{k})"
            )
    return ctes


def _stats_select(plan: _Plan, table: str) -> str:
    n = plan.n
    cols = ["count(t1) AS n1"]
    for k in range(2, n + 1):
        # greatest() skips NULLs: guard, so entries that stopped earlier stay out of the times
        gap = (
            f"CASE WHEN t{k} IS NOT NULL THEN greatest(epoch_ms(t{k}) - epoch_ms(t{k - 1}), 0) END"
        )
        start = f"CASE WHEN t{k} IS NOT NULL THEN greatest(epoch_ms(t{k}) - epoch_ms(t1), 0) END"
        cols += [
            f"count(t{k}) AS n{k}",
            f"avg({gap}) AS avg{k}",
            f"median({gap}) AS med{k}",
            f"avg({start}) AS avgs{k}",
        ]
    by, unit = bool(plan.spec.by), bool(plan.spec.unit)
    keys = [k for k, used in (("sv", by), ("b", unit)) if used]
    sets = ["()", *[f"({k})" for k in keys]] + (["(sv, b)"] if by and unit else [])
    heads = [
        "sv" if by else "NULL AS sv",
        "b" if unit else "NULL AS b",
        "GROUPING(sv) AS gs" if by else "1 AS gs",
        "GROUPING(b) AS gb" if unit else "1 AS gb",
    ]
    return (
        f"SELECT {', '.join(heads + cols)} FROM {table} GROUP BY GROUPING SETS ({', '.join(sets)})"
    )


def _entry_values(plan: _Plan, prefix: str = "") -> str:
    """``hv`` and ``b`` of an entry: those of its step-1 event (constants when unused)."""
    hv = f"arg_min({prefix}hv, {prefix}t)" if plan.spec.hold else "''"
    b = f"arg_min({prefix}b, {prefix}t)" if plan.spec.unit else f"min({prefix}b)"
    return f"{hv} AS hv, {b} AS b"


def _uniques_sql(plan: _Plan) -> str:
    ctes = [
        "ev AS ($rel)",
        f"c1 AS (SELECT u, sv, min(t) AS t1, {_entry_values(plan)} "
        "FROM ev WHERE m1 AND t < $hi GROUP BY u, sv)",
        *_step_ctes(plan),
        *_chain_ctes(plan),
    ]
    return f"WITH {', '.join(ctes)} {_stats_select(plan, f'c{plan.n}')}"


def _any_order_sql(plan: _Plan) -> str:
    n = plan.n
    any_step = " OR ".join(f"m{i}" for i in range(1, n + 1))
    firsts = ", ".join(
        f"min(e.t) FILTER (WHERE e.m{i} AND e.t >= a.t0 AND e.t <= a.t0 + $win) AS f{i}"
        for i in range(1, n + 1)
    )
    listed = ", ".join(f"f{i}" for i in range(1, n + 1))
    ts = ", ".join(f"done[{k}] AS t{k}" for k in range(1, n + 1))
    ctes = [
        "ev AS ($rel)",
        f"a AS (SELECT u, sv, min(t) AS t0, arg_min(b, t) AS b FROM ev WHERE ({any_step}) AND t < $hi GROUP BY u, sv)",
        f"f AS (SELECT a.u, a.sv, a.b, {firsts} FROM a JOIN ev e ON e.u = a.u "
        f"WHERE e.t >= a.t0 AND e.t <= a.t0 + $win GROUP BY a.u, a.sv, a.b)",
        f"d AS (SELECT sv, b, list_sort(list_filter([{listed}], lambda x: x IS NOT NULL)) AS done FROM f)",
        f"c AS (SELECT sv, b, {ts} FROM d)",
    ]
    return f"WITH {', '.join(ctes)} {_stats_select(plan, 'c')}"


def _bind_common(plan: _Plan, sql: str) -> exp.Expression:
    hi = plan.params.bind(plan.timeline.hi)
    win = exp.cast(plan.params.bind(plan.window), exp.DataType.build("INTERVAL"))
    return template(sql, rel=plan.relation, hi=hi, win=win)


def build_sql(store: Any, project: Project, spec: FunnelSpec) -> tuple[str, dict[str, Any]]:
    """The single statement of a ``uniques`` funnel (``specific`` or ``any`` order)."""
    plan = _plan(store, project, spec)
    sql = _any_order_sql(plan) if spec.order == "any" else _uniques_sql(plan)
    return render(_bind_common(plan, sql)), plan.params.values


# ------------------------------------------------------------------ totals (re-entry)
def _totals_rows(store: Any, plan: _Plan) -> list[dict[str, Any]]:
    """Re-entry without a loop over rounds of SQL.

    Every step-1 event is a candidate entry; the chain of steps and the exit time are
    computed for all candidates at once, and each candidate points at the next one its user
    could enter with (the first step-1 event after its exit). The entries are the candidates
    reachable from each user's first one: a walk along those pointers, done in numpy a whole
    frontier at a time.
    """
    import numpy as np
    import pyarrow as pa

    batches = list(store.stream(render(plan.relation), plan.params.values))
    if not batches:
        return []
    conn = duckdb.connect(config={"threads": "2", "autoinstall_known_extensions": "false"})
    try:
        conn.register("ev", pa.Table.from_batches(batches))
        n = plan.n
        latest = ", ".join(f"t{j}" for j in range(1, n + 1))
        exits = [f"WHEN t{n} IS NOT NULL THEN greatest({latest})"]
        for k in range(n - 1, 0, -1):
            exits.append(f"WHEN t{k} IS NOT NULL THEN coalesce(xt{k}, t1 + $win)")
        _run(
            conn,
            "CREATE TEMP TABLE cand AS SELECT (row_number() OVER (ORDER BY u, sv, t) - 1) AS id, "
            "u, sv, t AS t1, hv, b FROM ev WHERE m1 AND t < $hi",
            {"hi": plan.timeline.hi},
        )
        chain = ", ".join([*_step_ctes(plan), *_chain_ctes(plan)])
        _run(
            conn,
            f"CREATE TEMP TABLE chained AS WITH c1 AS (SELECT * FROM cand), {chain} "
            f"SELECT *, CASE {' '.join(exits)} END AS exit_at FROM c{n}",
            {"win": plan.window},
        )
        links = conn.sql(
            """SELECT c.id, coalesce(n.id, -1) AS next_id,
                      c.id = min(c.id) OVER (PARTITION BY c.u, c.sv) AS first
               FROM chained c ASOF LEFT JOIN cand n
                 ON n.u = c.u AND n.sv = c.sv AND n.t1 > c.exit_at
               ORDER BY c.id"""
        ).to_arrow_table()
        if links.num_rows == 0:
            return []
        following = links.column("next_id").to_numpy()
        reached = np.zeros(links.num_rows, dtype=bool)
        frontier = np.flatnonzero(links.column("first").to_numpy(zero_copy_only=False))
        while frontier.size:
            reached[frontier] = True
            frontier = following[frontier]
            frontier = frontier[frontier >= 0]
        conn.register("entered", pa.table({"id": np.flatnonzero(reached)}))
        _run(conn, "CREATE TEMP VIEW done AS SELECT * FROM chained SEMI JOIN entered USING (id)")
        return conn.sql(_stats_select(plan, "done")).to_arrow_table().to_pylist()
    finally:
        conn.close()


def _run(conn: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[Any]:
    return conn.execute(sql, params or {}).fetchall()


# ------------------------------------------------------------------ result
def funnel(store: Any, project: Project, spec: FunnelSpec) -> dict[str, Any]:
    """Run a funnel; Mixpanel's ``/funnels`` shape plus ``steps`` for the whole range.

    With a breakdown by an event (or group, or lookup) property, a user may enter once in each
    segment; the overall figures count them once, so they come from the same funnel without
    the breakdown. A user property has one value per user: the segments add up already.
    """
    rows = _rows(store, project, spec)
    if spec.by and parse_property(spec.by, "by").kind != "user":
        whole = _rows(store, project, dataclasses.replace(spec, by=None))
        rows = [r for r in rows if r["gs"] == 0] + whole
    return _shape(spec, rows, Timeline.of(project.timezone, spec.from_date, spec.to_date))


def _rows(store: Any, project: Project, spec: FunnelSpec) -> list[dict[str, Any]]:
    if spec.count == "totals":
        return _totals_rows(store, _plan(store, project, spec))
    sql, params = build_sql(store, project, spec)
    return fetch_rows(store, sql, params)


def _steps(spec: FunnelSpec, row: dict[str, Any] | None) -> list[dict[str, Any]]:
    out = []
    first = (row or {}).get("n1") or 0
    prev = first
    for k, step in enumerate(spec.steps, 1):
        count = int((row or {}).get(f"n{k}") or 0)
        entry: dict[str, Any] = {
            "event": step.event,
            "goal": step.event,
            "count": count,
            "step_conv_ratio": 1.0 if k == 1 else (round(count / prev, 6) if prev else 0.0),
            "overall_conv_ratio": 1.0 if k == 1 else (round(count / first, 6) if first else 0.0),
            "avg_time": None,
            "avg_time_from_start": None,
            "median_time": None,
        }
        if k > 1 and row:
            for key, col in (
                ("avg_time", "avg"),
                ("avg_time_from_start", "avgs"),
                ("median_time", "med"),
            ):
                value = row.get(f"{col}{k}")
                entry[key] = None if value is None else round(value / 1000, 3)
        if k == 1 and not row:
            entry["overall_conv_ratio"] = entry["step_conv_ratio"] = 1.0 if count else 0.0
        out.append(entry)
        prev = count
    return out


def _analysis(steps: list[dict[str, Any]]) -> dict[str, Any]:
    ratios = [s["step_conv_ratio"] for s in steps[1:]]
    worst = 1 + min(range(len(ratios)), key=lambda i: ratios[i]) if ratios else 1
    return {
        "completion": steps[-1]["count"],
        "starting_amount": steps[0]["count"],
        "steps": len(steps),
        "worst": worst,
    }


def _shape(spec: FunnelSpec, rows: list[dict[str, Any]], timeline: Timeline) -> dict[str, Any]:
    overall = next((r for r in rows if r["gs"] == 1 and r["gb"] == 1), None)
    dates = (
        [label(t, spec.unit) for t in timeline.bucket_starts(spec.unit)]
        if spec.unit
        else [timeline.start.isoformat()]
    )
    by_date = {label(r["b"], spec.unit or "day"): r for r in rows if r["gs"] == 1 and r["gb"] == 0}
    result: dict[str, Any] = {"meta": {"dates": dates}, "data": {}}
    segments: dict[str, dict[str, Any]] = {}
    if spec.by:
        seg_rows = {r["sv"]: r for r in rows if r["gs"] == 0 and r["gb"] == 1}
        keep = sorted(seg_rows, key=lambda s: (-(seg_rows[s]["n1"] or 0), s))[: int(spec.limit)]
        segments = {s: seg_rows[s] for s in keep}
        cells = {
            (label(r["b"], spec.unit or "day"), r["sv"]): r
            for r in rows
            if r["gs"] == 0 and r["gb"] == 0
        }
    for date in dates:
        steps = _steps(spec, by_date.get(date))
        if spec.by:
            entry: dict[str, Any] = {"$overall": steps}
            for s in segments:
                entry[s] = _steps(spec, cells.get((date, s)))
            result["data"][date] = entry
        else:
            result["data"][date] = {"steps": steps, "analysis": _analysis(steps)}
    result["steps"] = _steps(spec, overall)
    result["analysis"] = _analysis(result["steps"])
    if spec.by:
        result["segments"] = {s: _steps(spec, r) for s, r in segments.items()}
    return result
