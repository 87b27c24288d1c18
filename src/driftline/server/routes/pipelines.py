"""Admin API for data pipelines: ``/api/v1/pipelines`` (+ ``/run``, ``/runs``, ``/backfill``).

Authenticated with the project secret (HTTP Basic) or the admin token. Destination URLs are
returned with passwords and secret query values masked.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from driftline.server import ops
from driftline.server.auth import project_from_secret, state_of

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])


class PipelineIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=64, description="Unique name in the project.")
    destination: str = Field(
        ..., min_length=3, max_length=2000, description="Bucket or warehouse URL."
    )
    data: Literal["events", "people", "identity"] = "events"
    frequency: Literal["hourly", "daily"] = "daily"
    sync: bool = Field(True, description="Export late events into their partitions (default).")
    from_date: str | None = Field(
        None, description="First event day of history to export, YYYY-MM-DD."
    )


class RunIn(BaseModel):
    until: str | None = Field(
        None, description="Export what was committed before this ISO timestamp."
    )
    max_steps: int | None = Field(None, ge=1, le=10_000)


class BackfillIn(BaseModel):
    from_date: str = Field(..., description="First event day, YYYY-MM-DD (project timezone).")
    to_date: str | None = Field(None, description="Last event day, inclusive.")


async def _op(request: Request, op_name: str, /, **args: Any) -> Any:
    project = project_from_secret(request)
    state = state_of(request)
    ctx = ops.Context(state.store, state.writer)
    return await run_in_threadpool(ops.run, op_name, ctx, dict(args, project=str(project.id)))


@router.get("", summary="List pipelines")
async def list_pipelines(request: Request) -> Response:
    return JSONResponse(await _op(request, "pipeline.list"))


@router.post("", status_code=201, summary="Create a pipeline (the destination is probed first)")
async def create_pipeline(request: Request, body: PipelineIn) -> Response:
    result = await _op(request, "pipeline.add", **body.model_dump())
    return JSONResponse(result, status_code=201)


@router.get("/{name}", summary="One pipeline")
async def get_pipeline(request: Request, name: str) -> Response:
    rows = await _op(request, "pipeline.list")
    for row in rows:
        if row["name"] == name:
            return JSONResponse(row)
    from driftline.errors import NotFound

    raise NotFound(f"no pipeline named {name!r}")


@router.delete("/{name}", summary="Delete a pipeline (exported data stays)")
async def delete_pipeline(request: Request, name: str) -> Response:
    return JSONResponse(await _op(request, "pipeline.delete", name=name))


@router.post("/{name}/run", summary="Run now, until everything committed is exported")
async def run_pipeline(request: Request, name: str, body: RunIn | None = None) -> Response:
    body = body or RunIn()
    return JSONResponse(
        await _op(request, "pipeline.run", name=name, until=body.until, max_steps=body.max_steps)
    )


@router.get("/{name}/runs", summary="History, oldest first, reconciled against the store")
async def pipeline_runs(request: Request, name: str) -> Response:
    return JSONResponse(await _op(request, "pipeline.history", name=name))


@router.post("/{name}/backfill", status_code=202, summary="Plan a backfill; the scheduler runs it")
async def backfill_pipeline(request: Request, name: str, body: BackfillIn) -> Response:
    result = await _op(
        request, "pipeline.backfill", name=name, from_date=body.from_date, to_date=body.to_date
    )
    return JSONResponse(result, status_code=202)
