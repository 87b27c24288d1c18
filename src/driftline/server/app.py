"""The ASGI app factory.

``create_app`` builds a FastAPI app whose lifespan opens the store and its single writer and,
on shutdown, commits what is queued, checkpoints and closes the store. Route modules live in
``driftline.server.routes`` and each exposes ``router``; every module there is mounted.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from driftline import __version__
from driftline.config import Settings
from driftline.datadir import DataDir
from driftline.errors import Backpressure, DriftlineError, Unauthorized
from driftline.server.direct import DriftlineApp, Handler
from driftline.server.metrics import Metrics, MetricsMiddleware
from driftline.server.services import create_services
from driftline.server.state import ServerState
from driftline.store import DuckDBStore, GroupCommitWriter

log = logging.getLogger("driftline.server")


def route_modules() -> list[str]:
    """Every module of ``driftline.server.routes``, by name; each has a ``router``."""
    import pkgutil

    import driftline.server.routes as routes

    return sorted(f"{routes.__name__}.{m.name}" for m in pkgutil.iter_modules(routes.__path__))


def create_app(settings: Settings, *, store: DuckDBStore | None = None) -> FastAPI:
    """An app serving ``settings.data_dir``; pass ``store`` to share one already open."""
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        data_dir = DataDir(settings.data_dir)
        own_store = store is None
        opened = store or data_dir.open_store(settings)
        writer = GroupCommitWriter(
            opened,
            max_pending_rows=settings.writer_max_pending_rows,
            max_batch_rows=settings.writer_max_batch_rows,
            on_commit=metrics.on_commit,
        )
        metrics.bind(
            lambda: writer.pending_rows,
            lambda: _count_all_events(opened),
            lambda: float(opened.live_load),
        )
        state = ServerState(settings, opened, writer, metrics, data_dir.admin_token())
        app.state.driftline = state
        services = create_services(state)
        started = []
        try:
            for service in services:
                await service.start()
                started.append(service)
            yield
        finally:
            for service in reversed(started):
                try:
                    await service.stop()
                except Exception:
                    log.exception("stopping %s failed", type(service).__name__)
            writer.close()
            if own_store:
                opened.close()

    app = DriftlineApp(
        title="driftline",
        version=__version__,
        description="Self-hosted product analytics: ingestion, collector, queries and admin.",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    _install_error_handlers(app)
    direct: dict[tuple[str, str], Handler] = {}
    for module_name in route_modules():
        module = importlib.import_module(module_name)
        app.include_router(module.router)
        direct.update(getattr(module, "DIRECT_ROUTES", {}))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.set_direct(lambda inner: MetricsMiddleware(inner, metrics=metrics), direct)
    return app


def _count_all_events(store: DuckDBStore) -> float:
    try:
        return float(store.query_rows("SELECT count(*) FROM events")[0][0])
    except Exception:  # metrics must never fail a scrape
        return float("nan")


def error_body(status: int, message: str, field: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"error": message, "status": status}
    if field:
        body["field"] = field
    return body


def _unauthenticated(request: Request) -> Unauthorized | None:
    """For the APIs under ``/api/`` (secret or admin token; ingestion and the collector take
    their tokens in the payload), the refusal a request without valid credentials gets."""
    if not request.url.path.startswith("/api/"):
        return None
    from driftline.server.auth import project_from_secret

    try:
        project_from_secret(request)
    except Unauthorized as exc:
        return exc
    except DriftlineError:  # e.g. an unknown ?project_id= with the admin token
        return None
    return None


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DriftlineError)
    async def driftline_error(request: Request, exc: DriftlineError) -> Response:
        headers = {}
        if isinstance(exc, Backpressure):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(
            error_body(exc.status, exc.message, exc.field), exc.status, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        refused = _unauthenticated(request)
        if refused is not None:  # credentials first: no schema details for strangers
            return JSONResponse(error_body(401, refused.message), 401)
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":  # its loc is the body and a byte offset
            reason = (first.get("ctx") or {}).get("error")
            message = "body is not valid JSON" + (f": {reason}" if reason else "")
            return JSONResponse(error_body(400, message, "body"), 400)
        where = [str(p) for p in first.get("loc", ())]
        loc = [p for p in where if p not in ("body", "query", "path")]
        field = ".".join(loc) or ("body" if where == ["body"] else None)
        message = (
            f"{field}: {first.get('msg', 'invalid')}"
            if field
            else str(first.get("msg", "invalid request"))
        )
        return JSONResponse(error_body(400, message, field), 400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse(error_body(exc.status_code, str(exc.detail)), exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(500, "internal error; the server log has the details"), 500)
