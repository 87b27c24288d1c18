"""Routes the CLI uses to work through a running server (admin token only), and the raw
export that Mixpanel's ``/api/2.0/export`` clients call."""

from __future__ import annotations

import json

import pyarrow as pa
from fastapi import APIRouter
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from driftline.errors import InvalidInput
from driftline.model import EVENT_SCHEMA
from driftline.query.export import export_events, parse_date
from driftline.server import ops
from driftline.server.auth import project_from_secret, require_admin, state_of
from driftline.store import AppendEvents

router = APIRouter()


@router.post("/api/v1/_cli/events", include_in_schema=False)
async def write_events(request: Request) -> Response:
    """Commit one Arrow IPC stream of validated events (from ``driftline import``)."""
    require_admin(request)
    state = state_of(request)
    project = state.store.get_project(request.query_params.get("project_id"))
    body = await request.body()
    try:
        table = pa.ipc.open_stream(body).read_all()
        table = table.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
    except (pa.ArrowInvalid, KeyError, ValueError) as exc:
        raise InvalidInput(f"body is not an Arrow stream of events: {exc}") from None
    # a batch is always written to the project named in the URL
    table = table.set_column(
        0, EVENT_SCHEMA.field("project_id"), pa.array([project.id] * table.num_rows, pa.int32())
    )
    result = await run_in_threadpool(state.writer.write, AppendEvents(table))
    return JSONResponse({"rows": result.rows, "stored": result.stored, "replaced": result.replaced})


@router.post("/api/v1/_cli/ops/{name}", include_in_schema=False)
async def run_op(request: Request, name: str) -> Response:
    """Run a CLI operation (``driftline.server.ops``) against this server's store."""
    require_admin(request)
    try:
        args = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        raise InvalidInput("body must be a JSON object of arguments") from None
    if not isinstance(args, dict):
        raise InvalidInput("body must be a JSON object of arguments")
    state = state_of(request)
    result = await run_in_threadpool(ops.run, name, ops.Context(state.store, state.writer), args)
    return JSONResponse(result)


@router.get("/api/2.0/export", tags=["query"])
async def raw_export(request: Request) -> Response:
    """Mixpanel's raw event export: NDJSON of the events in ``from_date``..``to_date``."""
    project = project_from_secret(request)
    q = request.query_params
    for required in ("from_date", "to_date"):
        if required not in q:
            raise InvalidInput(f"{required} is required (YYYY-MM-DD)", field=required)
    start = parse_date(q["from_date"], "from_date")
    end = parse_date(q["to_date"], "to_date")
    events = _event_list(q.get("event"))
    limit = _limit(q.get("limit"))
    time_in_ms = q.get("time_in_ms", "false").lower() in ("1", "true")
    chunks = export_events(
        state_of(request).store,
        project,
        start,
        end,
        time_in_ms=time_in_ms,
        events=events,
        limit=limit,
    )
    return StreamingResponse(iterate_in_threadpool(chunks), media_type="text/plain; charset=utf-8")


def _event_list(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidInput(
            'event must be a JSON array of names, e.g. ["Sign Up"]', field="event"
        ) from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput('event must be a JSON array of names, e.g. ["Sign Up"]', field="event")
    return value


def _limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput("limit must be a whole number", field="limit") from None
    if not 0 < value <= 100_000:
        raise InvalidInput("limit must be between 1 and 100000", field="limit")
    return value
