"""Insights, Funnels and Retention: the query string is the whole state of a report, so a
URL can be shared; each table downloads as CSV (``format=csv&table=N``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from driftline.errors import DriftlineError
from driftline.web.catalog import event_names, property_names
from driftline.web.pages import Ctx, chart_json, error_text, page

router = APIRouter()
RANGES = ("7d", "30d", "90d", "this_month", "last_month", "custom")
PALETTE = ("#4f5bd5", "#e4572e", "#17bebb", "#ffc914", "#76b041", "#9b5de5", "#f15bb5",
           "#00bbf9", "#8d99ae", "#2b2d42")  # fmt: skip
_WINDOW_UNITS = {"days": "d", "hours": "h", "weeks": "w", "minutes": "m"}


@dataclass
class Range:
    range: str
    from_date: str
    to_date: str

    @property
    def text(self) -> str:
        return f"{self.from_date} to {self.to_date}"


def date_range(request: Request, ctx: Ctx, default: str = "30d") -> Range:
    """The report's days from ``range`` (relative to today in the project's timezone) or,
    for ``custom``, ``from``/``to``. Relative ranges stay relative in a shared URL."""
    q = request.query_params
    kind = q.get("range") or ("custom" if q.get("from") else default)
    if kind not in RANGES:
        kind = default
    today = dt.datetime.now(ZoneInfo(ctx.project.timezone)).date()
    if kind == "custom":
        start = q.get("from") or (today - dt.timedelta(days=29)).isoformat()
        return Range(kind, start, q.get("to") or today.isoformat())
    if kind == "this_month":
        return Range(kind, today.replace(day=1).isoformat(), today.isoformat())
    if kind == "last_month":
        end = today.replace(day=1) - dt.timedelta(days=1)
        return Range(kind, end.replace(day=1).isoformat(), end.isoformat())
    days = int(kind[:-1])
    return Range(kind, (today - dt.timedelta(days=days - 1)).isoformat(), today.isoformat())


def _opt(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value or None


# ---------------------------------------------------------------------- insights
async def insights(request: Request, ctx: Ctx) -> Response:
    names = await event_names(ctx)
    q = request.query_params
    event = q.get("event") or (names[0] if names else "")
    rng = date_range(request, ctx)
    unit = q.get("unit") or "day"
    measure = q.get("measure") or "general"
    form = {"event": event, "unit": unit, "measure": measure, "on": q.get("on", ""),
            "of": q.get("of", ""), "where": q.get("where", ""), "chart": q.get("chart") or "line"}  # fmt: skip
    error, chart, total = "", None, None
    if event:
        try:
            spec: dict[str, Any] = {
                "event": event, "from_date": rng.from_date, "to_date": rng.to_date, "unit": unit,
                "type": measure, "on": _opt(request, "on"), "where": _opt(request, "where"),
                "of": _opt(request, "of") if measure in ("sum", "mean") else None, "limit": 60,
            }  # fmt: skip
            result = await ctx.op("query.segmentation", **spec)
            chart, total = _insights_tables(ctx, result, event, form["chart"])
        except DriftlineError as exc:
            error = error_text(exc)
    status = 400 if error else 200
    return ctx.render(
        "insights.html", status, q=rng, form=form, names=names, error=error,
        properties=await property_names(ctx, event), chart=chart, total=total,
    )  # fmt: skip


def _insights_tables(ctx: Ctx, result: dict[str, Any], event: str, kind: str) -> tuple[str, Any]:
    series: list[str] = result["data"]["series"]
    values: dict[str, dict[str, float]] = result["data"]["values"]
    ranked = sorted(values.items(), key=lambda kv: -sum(v or 0 for v in kv[1].values()))
    rows = [[name, *[vals.get(d, 0) for d in series], round(sum(vals.get(d, 0) or 0 for d in series), 4)]
            for name, vals in ranked]  # fmt: skip
    ctx.table(
        f"{event} by {'segment' if len(values) > 1 else 'date'}",
        ["segment", *series, "total"],
        rows,
    )
    shown = ranked[:10]
    chart = chart_json(
        {"kind": "bar" if kind == "bar" else "line", "x": series,
         "series": [{"name": n, "values": [v.get(d, 0) for d in series]} for n, v in shown]}
    )  # fmt: skip
    total = sum(r[-1] for r in rows) if rows else 0
    return chart, total


# ---------------------------------------------------------------------- funnels
async def funnels(request: Request, ctx: Ctx) -> Response:
    names = await event_names(ctx)
    q = request.query_params
    steps = [s.strip() for s in q.getlist("step") if s.strip()]
    rng = date_range(request, ctx)
    window_n = q.get("window") or "7"
    window_unit = q.get("window_unit") or "days"
    form = {"steps": steps or ["", ""], "window": window_n, "window_unit": window_unit,
            "by": q.get("by", ""), "where": q.get("where", ""), "order": q.get("order") or "specific"}  # fmt: skip
    example = _funnel_example(names)
    error, view = "", None
    if len(steps) == 1:
        error = "add a second step: a funnel needs at least two"
    elif steps:
        try:
            window = f"{int(window_n)}{_WINDOW_UNITS.get(window_unit, 'd')}"
        except ValueError:
            window = "x"
        try:
            result = await ctx.op(
                "query.funnel", steps=steps, from_date=rng.from_date, to_date=rng.to_date,
                window=window, by=_opt(request, "by"), where=_opt(request, "where"),
                order=form["order"],
            )  # fmt: skip
            view = _funnel_view(ctx, result, steps, rng, window_n, window_unit, form["by"])
        except DriftlineError as exc:
            error = error_text(exc)
    return ctx.render(
        "funnels.html", 400 if error else 200, q=rng, form=form, names=names, error=error,
        properties=await property_names(ctx, steps[0] if steps else None), view=view,
        example=example,
    )  # fmt: skip


def _funnel_example(names: list[str]) -> str | None:
    if "Sign Up" in names and "Purchase" in names:
        return (
            "/funnels?step=Sign+Up&step=Purchase&range=last_month&window=7&window_unit=days&by=plan"
        )
    if len(names) >= 2:
        return f"/funnels?step={names[0]}&step={names[1]}&range=30d"
    return None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _funnel_view(ctx: Ctx, result: dict[str, Any], steps: list[str], rng: Any, window_n: str,
                 window_unit: str, by: str) -> dict[str, Any]:  # fmt: skip
    segments: dict[str, list[dict[str, Any]]] = {"All users": result["steps"]}
    if by and result.get("segments"):
        segments.update(sorted(result["segments"].items(), key=lambda kv: -kv[1][0]["count"]))
    rows, bars = [], []
    for i, (name, st) in enumerate(segments.items()):
        first, last = st[0]["count"], st[-1]["count"]
        rows.append([name, *[s["count"] for s in st], f"{(last / first * 100) if first else 0:.1f}%",
                     _duration(st[-1]["median_time"]),
                     _duration(st[-1]["avg_time_from_start"])])  # fmt: skip
        bars.append({"name": name, "color": PALETTE[i % len(PALETTE)], "steps": st})
    ctx.table(
        "Conversion" + (f" by {by}" if by else ""),
        ["segment", *[f"{i}. {s}" for i, s in enumerate(steps, 1)], "conversion",
         "median time to convert" if len(steps) == 2 else "median time, last step",
         "average time to convert"],
        rows,
        note=f"Users who did {steps[0]} from {rng.text}, and did each later step within "
        f"{window_n} {window_unit} of it.",
    )  # fmt: skip
    step_rows = [[i, s["event"], s["count"], f"{s['step_conv_ratio'] * 100:.1f}%",
                  f"{s['overall_conv_ratio'] * 100:.1f}%", _duration(s["median_time"]), _duration(s["avg_time"])]
                 for i, s in enumerate(result["steps"], 1)]  # fmt: skip
    ctx.table("Steps (all users)", ["step", "event", "users", "from previous step", "overall",
                                     "median time from previous", "average time from previous"], step_rows)  # fmt: skip
    overall = result["steps"]
    return {
        "bars": bars[:11],
        "steps": steps,
        "headline": {"entered": overall[0]["count"], "converted": overall[-1]["count"],
                     "ratio": overall[-1]["overall_conv_ratio"] * 100},
        "top": max(1, max((b["steps"][0]["count"] for b in bars[1:]), default=overall[0]["count"])),
    }  # fmt: skip


# ---------------------------------------------------------------------- retention
async def retention(request: Request, ctx: Ctx) -> Response:
    names = await event_names(ctx)
    q = request.query_params
    rng = date_range(request, ctx, default="90d")
    born = q.get("born_event") or ("Sign Up" if "Sign Up" in names else (names[0] if names else ""))
    event = q.get("event") or ""
    unit = q.get("unit") or "week"
    form = {"born_event": born, "event": event, "unit": unit, "where": q.get("where", ""),
            "count": q.get("count") or "8"}  # fmt: skip
    error, heat = "", None
    if born:
        try:
            count = int(form["count"])
        except ValueError:
            count = 0
        try:
            result = await ctx.op(
                "query.retention", born_event=born, event=event or None, from_date=rng.from_date,
                to_date=rng.to_date, unit=unit, intervals=count if count > 0 else None,
                where=_opt(request, "where"),
            )  # fmt: skip
            heat = _heat(ctx, result, unit)
        except DriftlineError as exc:
            error = error_text(exc)
    return ctx.render("retention.html", 400 if error else 200, q=rng, form=form, names=names,
                      error=error, heat=heat)  # fmt: skip


def _heat(ctx: Ctx, result: dict[str, Any], unit: str) -> dict[str, Any]:
    cohorts = [(d, c) for d, c in sorted(result.items()) if isinstance(c, dict) and "counts" in c]
    width = max((len(c["counts"]) for _, c in cohorts), default=0)
    cols = ["cohort", "users", *[f"{unit} {i}" for i in range(width)]]
    rows = [[d, c["first"], *[f"{r * 100:.1f}%" for r in c["rates"]]] for d, c in cohorts]
    ctx.table(
        "Retention", cols, rows, note="Share of each cohort that came back in each later interval."
    )
    cells = [
        (d, c["first"], [(n, r) for n, r in zip(c["counts"], c["rates"], strict=False)])
        for d, c in cohorts
    ]
    return {"width": width, "cohorts": cells}


router.get("/insights")(page(insights))
router.get("/funnels")(page(funnels))
router.get("/retention")(page(retention))
