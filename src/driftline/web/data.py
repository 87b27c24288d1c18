"""Data: the event and property browser (names, counts, last seen, sample values), the
profiles list with filters, and a live view of the last events to arrive."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from driftline.errors import DriftlineError
from driftline.web.catalog import SAMPLE
from driftline.web.pages import Ctx, error_text, page

router = APIRouter()
LIVE_ROWS = 50


async def events(request: Request, ctx: Ctx) -> Response:
    rows = await ctx.op("query.events")  # as `driftline query events` lists them
    ctx.table("Events", ["event", "events", "users", "last seen (UTC)"],
              [[r["event"], r["count"], r["users"], _iso_ts(r["last_seen"])] for r in rows])  # fmt: skip
    event = request.query_params.get("event")
    if event:
        props = await ctx.sql(
            f"""WITH s AS (SELECT properties FROM events WHERE project_id = ? AND event = ?
                           ORDER BY time DESC LIMIT {SAMPLE}),
                ks AS (SELECT properties, k FROM s, unnest(json_keys(properties)) t(k)),
                kv AS (SELECT k, json_extract_string(properties, '$."' || k || '"') AS v
                       FROM ks WHERE NOT contains(k, '"')),
                top AS (SELECT k, v, count(*) AS n, row_number() OVER (PARTITION BY k ORDER BY count(*) DESC, v) AS rk
                        FROM kv GROUP BY k, v)
                SELECT k, sum(n), count(*), string_agg(CASE WHEN rk <= 5 THEN v END, ' · ' ORDER BY rk)
                FROM top GROUP BY k ORDER BY sum(n) DESC, k""",
            [ctx.project.id, event],
        )
        ctx.table(
            f"Properties of {event}",
            ["property", "events with it", "distinct values", "most common values"],
            [[r[0], r[1], r[2], r[3]] for r in props],
            note=f"From the latest {SAMPLE:,} {event} events.",
        )
    return ctx.render("data_events.html", event=event)


def _iso_ts(value: str | None) -> str:
    """``2025-01-06T10:00:00.000Z`` as the page shows times: ``2025-01-06 10:00:00``."""
    return value[:19].replace("T", " ") if value else ""


def _ts(value: Any) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if value is not None else ""


async def profiles(request: Request, ctx: Ctx) -> Response:
    q = request.query_params
    where = q.get("where", "").strip() or None
    try:
        page_no = max(0, int(q.get("page") or 0))
    except ValueError:
        page_no = 0
    error, total = "", 0
    try:
        result = await ctx.op("query.profiles", where=where, page=page_no, page_size=50)
        found = result.get("results", [])
        total = int(result.get("total", len(found)))
        keys: dict[str, int] = {}
        for row in found:
            for k in row.get("$properties", {}):
                keys[k] = keys.get(k, 0) + 1
        columns = [k for k, _ in sorted(keys.items(), key=lambda kv: (-kv[1], kv[0]))][:10]
        rows = [
            [r.get("$distinct_id"), *[_cell(r.get("$properties", {}).get(c)) for c in columns]]
            for r in found
        ]
        ctx.table(f"Profiles (page {page_no + 1})", ["distinct_id", *columns], rows)
    except DriftlineError as exc:
        error = error_text(exc)
    return ctx.render("data_profiles.html", 400 if error else 200, error=error, where=where or "",
                      page_no=page_no, total=total, page_size=50)  # fmt: skip


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


async def _last_events(ctx: Ctx) -> list[list[Any]]:
    rows = await ctx.sql(
        f"""SELECT ingested_at, time, event, distinct_id, properties FROM events
            WHERE project_id = ? ORDER BY ingested_at DESC, time DESC LIMIT {LIVE_ROWS}""",
        [ctx.project.id],
    )
    return [[_ts(r[0]), _ts(r[1]), r[2], r[3], (r[4] or "")[:300]] for r in rows]


async def live(request: Request, ctx: Ctx) -> Response:
    ctx.table("Last events", ["received (UTC)", "time (UTC)", "event", "distinct_id", "properties"],
              await _last_events(ctx))  # fmt: skip
    return ctx.render("data_live.html")


async def live_json(request: Request, ctx: Ctx) -> Response:
    return JSONResponse(await _last_events(ctx), headers={"Cache-Control": "no-store"})


router.get("/data/events")(page(events))
router.get("/data/profiles")(page(profiles))
router.get("/data/live")(page(live))
router.get("/data/live.json")(page(live_json))
