"""Funnels and retention on random event logs, checked against a plain-Python reference.

The reference below is the definition in ``driftline.query.funnels`` / ``retention`` written
the obvious way (loops over each user's events). Logs mix users, anonymous devices that
merge into users mid-way, ties on timestamps and exclusion events.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.query.funnels import Exclusion, FunnelSpec, Step, funnel
from driftline.query.retention import RetentionSpec, retention

from .conftest import event_rows

LO = dt.datetime(2025, 1, 1)
GRACE = dt.timedelta(seconds=2)
DAYS = 3
HI = LO + dt.timedelta(days=DAYS)

# one event: (user number, mode, name, minutes after LO in steps of 30)
event_st = st.tuples(
    st.integers(0, 3),
    st.sampled_from(["user", "user", "device", "both"]),
    st.sampled_from(["A", "B", "C", "X"]),
    st.integers(-2 * 48, 8 * 48).map(lambda h: h * 30),
    st.sampled_from([0, 0, 0, 1, 2, 3, -1]),  # seconds: steps close enough for the grace
)
log_st = st.lists(event_st, max_size=30)


def at(minutes: int, seconds: int) -> dt.datetime:
    return LO + dt.timedelta(minutes=minutes, seconds=seconds)


def to_events(log: list[tuple[int, str, str, int, int]]) -> list[dict[str, Any]]:
    out = []
    for user, mode, name, minutes, seconds in log:
        t = at(minutes, seconds).isoformat()
        ev: dict[str, Any] = {"e": name, "t": t}
        if mode in ("user", "both"):
            ev["u"] = f"u{user}"
        if mode in ("device", "both"):
            ev["d"] = f"d{user}"
        out.append(ev)
    return out


def resolved(log: list[tuple[int, str, str, int, int]]) -> dict[str, list[tuple[dt.datetime, str]]]:
    """Per canonical user: ``[(time, name)]`` sorted — devices merged into their user."""
    linked = {u for u, mode, _, _, _ in log if mode == "both"}
    per: dict[str, list[tuple[dt.datetime, str]]] = {}
    for user, mode, name, minutes, seconds in log:
        uid = f"u{user}" if mode != "device" or user in linked else f"$device:d{user}"
        per.setdefault(uid, []).append((at(minutes, seconds), name))
    return {u: sorted(evs) for u, evs in per.items()}


def first(
    evs: list[tuple[dt.datetime, str]], name: str, after: dt.datetime, strict: bool
) -> dt.datetime | None:
    times = [t for t, n in evs if n == name and (t > after if strict else t >= after)]
    return min(times) if times else None


def ref_entry(evs, t1, steps, window, excluded) -> tuple[list[dt.datetime], dt.datetime]:  # type: ignore[no-untyped-def]
    """Step times of one entry starting at ``t1``, and when the user leaves the funnel."""
    times = [t1]
    for k in range(1, len(steps)):
        prev = times[-1]
        if steps[k] in steps[:k]:  # a repeated event: after every step so far
            cand = first(evs, steps[k], max(times), True)
        else:  # two seconds of grace before the previous step
            cand = first(evs, steps[k], prev - GRACE, False)
        x = first(evs, "X", prev, True) if excluded else None
        if cand is None or cand > t1 + window or (x is not None and x < cand):
            leave = t1 + window if x is None else min(x, t1 + window)
            return times, leave
        times.append(cand)
    return times, max(times)


def ref_funnel(log, steps, window, excluded, totals) -> list[int]:  # type: ignore[no-untyped-def]
    counts = [0] * len(steps)
    for evs in resolved(log).values():
        starts = sorted(t for t, n in evs if n == steps[0] and LO <= t < HI)
        resume = None
        for t1 in starts:
            if resume is not None and t1 <= resume:
                continue
            times, leave = ref_entry(evs, t1, steps, window, excluded)
            for k in range(len(times)):
                counts[k] += 1
            if not totals:
                break
            resume = leave
    return counts


def ref_retention(log, born, ret, n, unbounded) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    cohorts: dict[str, dict[str, Any]] = {}
    for evs in resolved(log).values():
        births = [t for t, name in evs if name == born]
        if not births or not (LO <= min(births) < HI):
            continue
        bt = min(births)
        ks = set()
        for t, name in evs:
            if name != ret or (t <= bt if born == ret else t < bt):
                continue
            k = int((t - bt) / dt.timedelta(days=1))
            if k < n:
                ks.add(k)
        cell = cohorts.setdefault(bt.date().isoformat(), {"first": 0, "counts": [0] * n})
        cell["first"] += 1
        for k in range(n):
            if (unbounded and ks and max(ks) >= k) or (not unbounded and k in ks):
                cell["counts"][k] += 1
    return cohorts


SETTINGS = settings(
    max_examples=int(os.environ.get("DRIFTLINE_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(
    log=log_st,
    steps=st.sampled_from(
        [["A", "B"], ["A", "B", "C"], ["A", "A"], ["A", "B", "A"], ["B", "A", "C"]]
    ),
    window_h=st.sampled_from([1, 24, 48]),
    excluded=st.booleans(),
    totals=st.booleans(),
)
def test_funnel_matches_reference(
    store, make_project, log, steps, window_h, excluded, totals
) -> None:  # type: ignore[no-untyped-def]
    project = make_project()
    store.apply([_append(project.id, log)])
    window = dt.timedelta(hours=window_h)
    spec = FunnelSpec(
        steps=tuple(Step(s) for s in steps),
        from_date=LO.date().isoformat(),
        to_date=(HI - dt.timedelta(days=1)).date().isoformat(),
        window=f"{window_h}h",
        count="totals" if totals else "uniques",
        exclusions=(Exclusion("X"),) if excluded else (),
    )
    got = [s["count"] for s in funnel(store, project, spec)["steps"]]
    assert got == ref_funnel(log, steps, window, excluded, totals)


@SETTINGS
@given(
    log=log_st,
    events=st.sampled_from([("A", "B"), ("A", "A"), ("B", "C")]),
    unbounded=st.booleans(),
)
def test_retention_matches_reference(store, make_project, log, events, unbounded) -> None:  # type: ignore[no-untyped-def]
    project = make_project()
    store.apply([_append(project.id, log)])
    spec = RetentionSpec(
        born_event=events[0],
        event=events[1],
        from_date=LO.date().isoformat(),
        to_date=(HI - dt.timedelta(days=1)).date().isoformat(),
        intervals=4,
        unbounded=unbounded,
    )
    got = {
        d: {"first": c["first"], "counts": c["counts"]}
        for d, c in retention(store, project, spec).items()
    }
    assert got == ref_retention(log, events[0], events[1], 4, unbounded)


def _append(project_id: int, log: list[tuple[int, str, str, int, int]]) -> Any:
    from driftline.store import AppendEvents

    return AppendEvents(event_rows(project_id, to_events(log)))


def ref_any_order(log, steps, window) -> list[int]:  # type: ignore[no-untyped-def]
    counts = [0] * len(steps)
    for evs in resolved(log).values():
        starts = [t for t, n in evs if n in steps and LO <= t < HI]
        if not starts:
            continue
        t0 = min(starts)
        done = sum(1 for s in steps if any(n == s and t0 <= t <= t0 + window for t, n in evs))
        for k in range(done):
            counts[k] += 1
    return counts


def ref_compounded(log, event, n) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    cohorts: dict[str, dict[str, Any]] = {}
    for evs in resolved(log).values():
        times = sorted(t for t, name in evs if name == event)
        days = sorted({t.date() for t in times if LO <= t < HI})
        for day in days:
            anchor = min(t for t in times if t.date() == day)
            ks = {int((t - anchor) / dt.timedelta(days=1)) for t in times if t > anchor}
            cell = cohorts.setdefault(day.isoformat(), {"first": 0, "counts": [0] * n})
            cell["first"] += 1
            for k in ks:
                if k < n:
                    cell["counts"][k] += 1
    return cohorts


@SETTINGS
@given(
    log=log_st,
    steps=st.sampled_from([["A", "B"], ["A", "B", "C"], ["C", "B", "A"]]),
    window_h=st.sampled_from([1, 24, 48]),
)
def test_any_order_funnel_matches_reference(store, make_project, log, steps, window_h) -> None:  # type: ignore[no-untyped-def]
    project = make_project()
    store.apply([_append(project.id, log)])
    spec = FunnelSpec(
        steps=tuple(Step(s) for s in steps),
        from_date=LO.date().isoformat(),
        to_date=(HI - dt.timedelta(days=1)).date().isoformat(),
        window=f"{window_h}h",
        order="any",
    )
    got = [s["count"] for s in funnel(store, project, spec)["steps"]]
    assert got == ref_any_order(log, steps, dt.timedelta(hours=window_h))


@SETTINGS
@given(log=log_st)
def test_compounded_retention_matches_reference(store, make_project, log) -> None:  # type: ignore[no-untyped-def]
    project = make_project()
    store.apply([_append(project.id, log)])
    spec = RetentionSpec(
        born_event=None,
        event="B",
        type="compounded",
        from_date=LO.date().isoformat(),
        to_date=(HI - dt.timedelta(days=1)).date().isoformat(),
        intervals=3,
    )
    got = {
        d: {"first": c["first"], "counts": c["counts"]}
        for d, c in retention(store, project, spec).items()
    }
    assert got == ref_compounded(log, "B", 3)
