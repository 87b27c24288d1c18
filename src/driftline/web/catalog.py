"""What the forms offer: event names (most frequent first) and property names seen on an
event, from a sample of its rows (the first the scan meets: no sort) and of the profiles.
Cached for a minute per project, so a page costs one small query at most."""

from __future__ import annotations

import time
from typing import Any

from driftline.web.pages import Ctx

TTL = 60.0
SAMPLE = 2000
_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}


def _cached(key: tuple[Any, ...]) -> Any:
    hit = _cache.get(key)
    if hit and time.monotonic() - hit[0] < TTL:
        return hit[1]
    return None


def _keep(key: tuple[Any, ...], value: Any) -> Any:
    if len(_cache) > 1000:
        _cache.clear()
    _cache[key] = (time.monotonic(), value)
    return value


async def event_names(ctx: Ctx) -> list[str]:
    key = ("events", id(ctx.request.app), ctx.project.id)
    hit = _cached(key)
    if hit is not None:
        return list(hit)
    rows = await ctx.sql(
        "SELECT event FROM events WHERE project_id = ? GROUP BY event ORDER BY count(*) DESC, event LIMIT 500",
        [ctx.project.id],
    )
    return list(_keep(key, [r[0] for r in rows]))


async def property_names(ctx: Ctx, event: str | None) -> list[str]:
    """Event properties of ``event`` (or of any event), then ``user.*`` profile properties,
    most common first in a sample of rows."""
    key = ("props", id(ctx.request.app), ctx.project.id, event)
    hit = _cached(key)
    if hit is not None:
        return list(hit)
    where, params = ("AND event = ?", [event]) if event else ("", [])
    rows = await ctx.sql(
        f"""SELECT k FROM (SELECT properties FROM events WHERE project_id = ? {where}
            LIMIT {SAMPLE}), unnest(json_keys(properties)) t(k)
            GROUP BY k ORDER BY count(*) DESC, k LIMIT 200""",
        [ctx.project.id, *params],
    )
    users = await ctx.sql(
        f"""SELECT k FROM (SELECT properties FROM profiles WHERE project_id = ? LIMIT {SAMPLE}),
            unnest(json_keys(properties)) t(k) GROUP BY k ORDER BY count(*) DESC, k LIMIT 100""",
        [ctx.project.id],
    )
    names = [r[0] for r in rows] + [f"user.{r[0]}" for r in users]
    return list(_keep(key, names))
