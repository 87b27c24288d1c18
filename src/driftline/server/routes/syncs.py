"""Admin API for warehouses and syncs (``/api/v1/warehouses``, ``/api/v1/syncs``).

Authentication: the project's secret (HTTP Basic, Mixpanel's form) or the admin token with
``?project_id=``. Warehouse URLs are only ever returned with their secrets masked.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from driftline.server import ops
from driftline.server.auth import project_from_secret, state_of
from driftline.sync.spec import SyncSpec

router = APIRouter(prefix="/api/v1", tags=["warehouse syncs"])


class WarehouseIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=64, description="Warehouse name.")
    url: str = Field(
        ..., min_length=1, max_length=4000,
        description="Warehouse URL; write secrets as ${ENV_VAR} references.",
    )  # fmt: skip


class WarehouseOut(BaseModel):
    name: str
    url: str = Field(..., description="The URL with its password and secret parameters masked.")
    source: str
    arrow_path: str = ""
    modes: list[str] = []
    created_at: str | None = None


class RunOut(BaseModel):
    run_id: str
    started_at: str | None
    finished_at: str | None
    status: str
    error: str | None
    rows_read: int | None
    inserted: int | None
    updated: int | None
    deleted: int | None
    rejected: int | None
    bytes: int | None
    mode: str | None = None
    duration_seconds: float | None = None


async def _op(request: Request, op_name: str, /, **args: Any) -> Any:
    project = project_from_secret(request)
    state = state_of(request)
    return await run_in_threadpool(
        ops.run,
        op_name,
        ops.Context(state.store, state.writer),
        {**args, "project": str(project.id)},
    )


@router.get("/warehouses", response_model=list[WarehouseOut])
async def list_warehouses(request: Request) -> Any:
    """Warehouses of the project (secrets masked)."""
    return await _op(request, "warehouse.list")


@router.post("/warehouses", status_code=201)
async def add_warehouse(
    request: Request, body: WarehouseIn, replace: bool = False,
    test: bool = Query(True, description="Reach and sign in to the warehouse before saving it; "
                       "false saves one not reachable from here yet (a URL that can never "
                       "work is refused either way)."),
) -> Any:  # fmt: skip
    """Add a warehouse (``replace=true`` changes an existing one). It is tested first, as
    ``POST /warehouses/{name}/test`` does; a failure is a 400 naming ``url``."""
    return await _op(
        request, "warehouse.add", name=body.name, url=body.url, replace=replace, test=test
    )


@router.delete("/warehouses/{name}")
async def delete_warehouse(request: Request, name: str) -> Any:
    """Remove a warehouse; 409 naming the syncs that still use it (delete those first)."""
    return await _op(request, "warehouse.delete", name=name)


@router.post("/warehouses/{name}/test")
async def test_warehouse(request: Request, name: str) -> Any:
    """Reach the warehouse, sign in, and list readable tables."""
    return await _op(request, "warehouse.test", name=name)


@router.get("/syncs")
async def list_syncs(request: Request) -> Any:
    """Syncs with schedule, watermark and last run."""
    return await _op(request, "sync.list")


@router.post("/syncs", status_code=201)
async def add_sync(
    request: Request, body: SyncSpec, replace: bool = False,
    check: bool = Query(True, description="Check the mapping against the table first."),
) -> Any:  # fmt: skip
    """Add a sync (``replace=true`` changes one; a changed table/type/mode starts it over)."""
    return await _op(request, "sync.add", spec=body.public(), replace=replace, check_table=check)


@router.get("/syncs/{name}")
async def get_sync(request: Request, name: str) -> Any:
    return await _op(request, "sync.get", name=name)


@router.delete("/syncs/{name}")
async def delete_sync(request: Request, name: str) -> Any:
    """Delete a sync and its history; loaded data stays."""
    return await _op(request, "sync.delete", name=name)


@router.get("/syncs/{name}/preview")
async def preview_sync(request: Request, name: str, rows: int = Query(10, ge=1, le=1000)) -> Any:
    """Columns, mapping, first rows as they will land and the row count; writes nothing."""
    return await _op(request, "sync.preview", name=name, rows=rows)


@router.post("/syncs/{name}/run", responses={202: {"description": "Run started"}})
async def run_sync(
    request: Request, name: str,
    wait: bool = Query(False, description="Answer when the run has finished."),
    retries: int = Query(0, ge=0, le=10, description="Retries of transient errors, with backoff."),
) -> Response:  # fmt: skip
    """Start a run (409 if one is running). Poll ``GET /syncs/{name}/runs/current``."""
    if wait:
        return JSONResponse(await _op(request, "sync.run", name=name, retries=retries))
    return JSONResponse(await _op(request, "sync.start", name=name, retries=retries), 202)


@router.post("/syncs/{name}/cancel")
async def cancel_run(request: Request, name: str) -> Any:
    """Stop the run in progress; it commits nothing (``cancelled`` is false when none runs)."""
    return await _op(request, "sync.cancel", name=name)


@router.get("/syncs/{name}/runs/current")
async def current_run(request: Request, name: str) -> Any:
    """Progress of the run in progress (or the one that just ended)."""
    return await _op(request, "sync.status", name=name)


@router.get("/syncs/{name}/runs", response_model=list[RunOut])
async def sync_runs(request: Request, name: str, limit: int = Query(100, ge=1, le=10_000)) -> Any:
    """History, oldest first."""
    return await _op(request, "sync.history", name=name, limit=limit)
