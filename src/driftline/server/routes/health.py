"""``/healthz`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from driftline import __version__
from driftline.server.auth import state_of
from driftline.server.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz(request: Request) -> Response:
    state = state_of(request)
    state.store.query_rows("SELECT 1")
    return JSONResponse(
        {"status": "ok", "version": __version__, "writer_queue_rows": state.writer.pending_rows}
    )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return Response(state_of(request).metrics.render(), media_type=CONTENT_TYPE)
