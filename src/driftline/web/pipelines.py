"""Pipelines (create, run now, backfill, per-window reconciliation status) and Snowplow bad
rows. A run started here runs in a background thread of the server; its page reloads until
it ends. Destination URLs are shown masked."""

from __future__ import annotations

import threading
import urllib.parse
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from driftline.errors import DriftlineError, NotFound
from driftline.server import ops
from driftline.server.auth import state_of
from driftline.web.pages import Ctx, error_text, form_dict, page

router = APIRouter()
#: runs started from the UI: (project, pipeline) -> {"running": bool, "error": str, "result": ...}
_runs: dict[tuple[int, str], dict[str, Any]] = {}
_runs_lock = threading.Lock()


async def pipelines(request: Request, ctx: Ctx, **extra: Any) -> Response:
    found = await ctx.op("pipeline.list")
    ctx.table("Pipelines", ["name", "data", "frequency", "destination"],
              [[p.get("name"), p.get("data"), p.get("frequency"), p.get("destination")] for p in found])  # fmt: skip
    return ctx.render("pipelines.html", 400 if extra.get("error") else 200, pipelines=found,
                      form=extra.pop("form", {}), **extra)  # fmt: skip


async def pipelines_get(request: Request, ctx: Ctx) -> Response:
    return await pipelines(request, ctx)


async def pipeline_create(request: Request, ctx: Ctx) -> Response:
    form = await form_dict(request)
    args = {"name": form.get("name", ""), "destination": form.get("destination", ""),
            "data": form.get("data") or "events", "frequency": form.get("frequency") or "daily",
            "from_date": form.get("from_date") or None}  # fmt: skip
    try:
        await ctx.op("pipeline.add", **args)
    except DriftlineError as exc:
        return await pipelines(request, ctx, form={"name": args["name"]}, error=error_text(exc))
    return RedirectResponse(f"/connections/pipelines/{urllib.parse.quote(args['name'])}", 303)


async def pipeline_detail(
    request: Request, ctx: Ctx, notice: str = "", error: str = ""
) -> Response:
    name = request.path_params["name"]
    found = [p for p in await ctx.op("pipeline.list") if p.get("name") == name]
    if not found:
        return ctx.render(
            "message.html", 404, title="No such pipeline", error=f"no pipeline named {name!r}"
        )
    try:
        windows = await ctx.op("pipeline.history", name=name)
        progress = await ctx.op("pipeline.progress", name=name)
    except NotFound as exc:
        return ctx.render("message.html", 404, title="No such pipeline", error=error_text(exc))
    ctx.table("Windows", ["window start", "window end", "status", "events in store", "events exported",
                          "finished", "error"],
              [[w.get("window_start"), w.get("window_end"), w.get("status"), w.get("events_in_store"),
                w.get("events_exported"), w.get("finished_at"), w.get("error")] for w in reversed(windows)],
              note="Each window's exported count is checked against the store now.")  # fmt: skip
    with _runs_lock:
        run = dict(_runs.get((ctx.project.id, name), {}))
    if run and not run.get("running") and request.query_params.get("started"):
        if run.get("error"):
            error = error or f"run failed: {run['error']}"
        else:
            notice = notice or f"run finished: {run.get('steps', 0)} window(s) exported"
    return ctx.render("pipeline_detail.html", 400 if error else 200, name=name, pipeline=found[0],
                      windows=windows, progress=progress, run=run, notice=notice, error=error)  # fmt: skip


def _run_in_background(request: Request, project_id: int, name: str) -> bool:
    key = (project_id, name)
    with _runs_lock:
        if _runs.get(key, {}).get("running"):
            return False
        _runs[key] = {"running": True}
    state = state_of(request)
    context = ops.Context(state.store, state.writer)

    def work() -> None:
        outcome: dict[str, Any] = {"running": False}
        try:
            result = ops.run("pipeline.run", context, {"name": name, "project": str(project_id)})
            outcome["steps"] = (
                len(result.get("steps", result.get("runs", []))) if isinstance(result, dict) else 0
            )
        except Exception as exc:  # shown on the pipeline's page
            outcome["error"] = error_text(exc)
        with _runs_lock:
            _runs[key] = outcome

    threading.Thread(target=work, name=f"web-pipeline-{name}", daemon=True).start()
    return True


async def pipeline_run(request: Request, ctx: Ctx) -> Response:
    name = request.path_params["name"]
    if not _run_in_background(request, ctx.project.id, name):
        return await pipeline_detail(request, ctx, error="a run started here is still running")
    return RedirectResponse(f"/connections/pipelines/{urllib.parse.quote(name)}?started=1", 303)


async def pipeline_backfill(request: Request, ctx: Ctx) -> Response:
    name = request.path_params["name"]
    form = await form_dict(request)
    try:
        result = await ctx.op("pipeline.backfill", name=name, from_date=form.get("from_date", ""),
                              to_date=form.get("to_date") or None)  # fmt: skip
    except DriftlineError as exc:
        return await pipeline_detail(request, ctx, error=error_text(exc))
    chunks = result.get("chunks", "") if isinstance(result, dict) else ""
    return await pipeline_detail(
        request,
        ctx,
        notice=f"backfill planned {chunks} chunk(s); the scheduler runs it (or press Run now)",
    )


async def bad_rows(request: Request, ctx: Ctx) -> Response:
    counts = await ctx.sql(
        """SELECT kind, schema, count(*), max(received_at) FROM bad_rows WHERE project_id = ?
           GROUP BY kind, schema ORDER BY count(*) DESC""",
        [ctx.project.id],
    )
    ctx.table("Bad rows by kind", ["kind", "schema", "rows", "last received (UTC)"],
              [[r[0], r[1], r[2], r[3].isoformat(sep=" ", timespec="seconds") if r[3] else ""] for r in counts])  # fmt: skip
    latest = await ctx.sql(
        """SELECT received_at, kind, schema, CAST(payload AS VARCHAR) FROM bad_rows
           WHERE project_id = ? ORDER BY received_at DESC LIMIT 50""",
        [ctx.project.id],
    )
    ctx.table("Latest bad rows", ["received (UTC)", "kind", "schema", "payload"],
              [[r[0].isoformat(sep=" ", timespec="seconds"), r[1], r[2], (r[3] or "")[:600]] for r in latest])  # fmt: skip
    return ctx.render("bad_rows.html")


router.get("/connections/pipelines")(page(pipelines_get))
router.post("/connections/pipelines")(page(pipeline_create))
router.get("/connections/pipelines/{name}")(page(pipeline_detail))
router.post("/connections/pipelines/{name}/run")(page(pipeline_run))
router.post("/connections/pipelines/{name}/backfill")(page(pipeline_backfill))
router.get("/connections/bad-rows")(page(bad_rows))
