"""Connections: warehouses (add, test) and syncs (a form that previews the mapping and the
first rows before it creates the sync; run now with live progress; history with counts and
errors). Warehouse URLs are only ever shown with their secrets masked."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from driftline.errors import DriftlineError, NotFound
from driftline.web.pages import Ctx, error_text, form_dict, page

router = APIRouter()
SPEC_FIELDS = ("name", "warehouse", "table", "type", "mode", "every", "event_name",
               "event_name_column", "time_column", "user_id_column", "device_id_column",
               "insert_id_column", "json_properties_column", "insert_time_column", "id_column",
               "group_key", "start_time_column", "lookup_property")  # fmt: skip
TYPES = ("events", "user-profiles", "group-profiles", "lookup-table")
MODES = ("append", "full", "one-time", "mirror")


# ---------------------------------------------------------------------- warehouses
async def warehouses(request: Request, ctx: Ctx, **extra: Any) -> Response:
    found = await ctx.op("warehouse.list")
    ctx.table("Warehouses", ["name", "kind", "url (secrets masked)", "modes", "added"],
              [[w["name"], w["source"], w["url"], ", ".join(w["modes"]), w["created_at"]] for w in found])  # fmt: skip
    status = 400 if extra.get("error") else 200
    return ctx.render("warehouses.html", status, warehouses=found, **extra)


async def warehouses_get(request: Request, ctx: Ctx) -> Response:
    return await warehouses(request, ctx, form={})


async def warehouse_add(request: Request, ctx: Ctx) -> Response:
    form = await form_dict(request)
    try:
        added = await ctx.op("warehouse.add", name=form.get("name", ""), url=form.get("url", ""))
    except DriftlineError as exc:
        shown = {"name": form.get("name", "")}  # never echo a URL that may hold a password
        return await warehouses(request, ctx, form=shown, error=error_text(exc))
    return await warehouses(
        request, ctx, form={}, notice=f"added warehouse {added['name']} ({added['source']})"
    )


async def warehouse_test(request: Request, ctx: Ctx) -> Response:
    name = request.path_params["name"]
    try:
        result = await ctx.op("warehouse.test", name=name)
    except DriftlineError as exc:
        return await warehouses(request, ctx, form={}, error=f"{name}: {error_text(exc)}")
    checks = "; ".join(str(c) for c in result.get("checks", []))
    tables = ", ".join(result.get("tables", [])[:20])
    return await warehouses(
        request, ctx, form={}, notice=f"{name}: connected. {checks} Tables: {tables or 'none'}"
    )


# ---------------------------------------------------------------------- syncs
async def syncs(request: Request, ctx: Ctx) -> Response:
    found = await ctx.op("sync.list")
    ctx.table("Syncs", ["name", "warehouse", "table", "type", "mode", "every", "last run", "status", "error"],
              [[s["name"], s["warehouse"], s["table"], s["type"], s["mode"], s["every"], s["last_run"],
                s["last_status"], s["last_error"]] for s in found])  # fmt: skip
    return ctx.render("syncs.html", syncs=found)


def _spec(form: dict[str, str]) -> dict[str, Any]:
    return {k: form[k] for k in SPEC_FIELDS if form.get(k)}


async def sync_new(request: Request, ctx: Ctx) -> Response:
    form: dict[str, str] = {"type": "events", "mode": "append"}
    if request.query_params.get("warehouse"):
        form["warehouse"] = request.query_params["warehouse"]
    return await _new_form(ctx, form)


async def _new_form(
    ctx: Ctx, form: dict[str, str], *, preview: Any = None, error: str = ""
) -> Response:
    whs = await ctx.op("warehouse.list")
    if preview:
        ctx.table("Mapping", ["warehouse column", "type", "lands as"],
                  [[m["column"], m["type"], m["lands_as"]] for m in preview["mapping"]])  # fmt: skip
        sample = preview["sample"]
        cols = list(sample[0].keys()) if sample else []
        ctx.table(f"First {len(sample)} rows as they will land", cols,
                  [[json.dumps(r[c]) if isinstance(r[c], dict | list) else r[c] for c in cols] for r in sample])  # fmt: skip
    return ctx.render("sync_new.html", 400 if error else 200, form=form, warehouses=whs, preview=preview,
                      error=error, types=TYPES, modes=MODES)  # fmt: skip


async def sync_create(request: Request, ctx: Ctx) -> Response:
    form = await form_dict(request)
    spec = _spec(form)
    if form.get("action") == "preview":
        try:
            preview = await ctx.op("sync.preview_draft", spec=spec, rows=10)
        except DriftlineError as exc:
            return await _new_form(ctx, form, error=error_text(exc))
        return await _new_form(ctx, form, preview=preview)
    try:
        await ctx.op("sync.add", spec=spec)
    except DriftlineError as exc:
        return await _new_form(ctx, form, error=error_text(exc))
    return RedirectResponse(f"/connections/syncs/{urllib.parse.quote(spec['name'])}", 303)


async def sync_detail(request: Request, ctx: Ctx, notice: str = "", error: str = "") -> Response:
    name = request.path_params["name"]
    try:
        sync = await ctx.op("sync.get", name=name)
        runs = await ctx.op("sync.history", name=name, limit=100)
    except NotFound as exc:
        return ctx.render("message.html", 404, title="No such sync", error=error_text(exc))
    ctx.table("Run history", ["started", "finished", "status", "rows read", "inserted", "updated",
                              "deleted", "rejected", "seconds", "error"],
              [[r["started_at"], r["finished_at"], r["status"], r["rows_read"], r["inserted"], r["updated"],
                r["deleted"], r.get("rejected"), r.get("duration_seconds"), r["error"]] for r in reversed(runs)])  # fmt: skip
    if request.query_params.get("finished") and not notice and runs:
        last = runs[-1]
        notice = f"run finished: {last['status']}, {last['rows_read'] or 0:,} rows read"
    return ctx.render("sync_detail.html", 400 if error else 200, name=name, sync=sync, runs=runs,
                      notice=notice, error=error)  # fmt: skip


async def sync_run(request: Request, ctx: Ctx) -> Response:
    name = request.path_params["name"]
    try:
        await ctx.op("sync.start", name=name)
    except DriftlineError as exc:
        return await sync_detail(request, ctx, error=error_text(exc))
    return RedirectResponse(f"/connections/syncs/{urllib.parse.quote(name)}?started=1", 303)


async def sync_progress(request: Request, ctx: Ctx) -> Response:
    try:
        status = await ctx.op("sync.status", name=request.path_params["name"])
    except NotFound:
        status = {}
    return JSONResponse(status, headers={"Cache-Control": "no-store"})


router.get("/connections/warehouses")(page(warehouses_get))
router.post("/connections/warehouses")(page(warehouse_add))
router.post("/connections/warehouses/{name}/test")(page(warehouse_test))
router.get("/connections/syncs")(page(syncs))
router.get("/connections/syncs/new")(page(sync_new))
router.post("/connections/syncs")(page(sync_create))
router.get("/connections/syncs/{name}")(page(sync_detail))
router.post("/connections/syncs/{name}/run")(page(sync_run))
router.get("/connections/syncs/{name}/progress.json")(page(sync_progress))
