"""The Snowplow collector's HTTP routes (the logic is in :mod:`driftline.snowplow.collector`).

Plain Starlette routes, not FastAPI endpoints: trackers send thousands of small requests a
second and need none of FastAPI's parsing.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response

from driftline.errors import Backpressure, DriftlineError
from driftline.server.auth import state_of
from driftline.snowplow import config as sp_config
from driftline.snowplow.collector import Collector, Request
from driftline.snowplow.workers import CollectorWorkers


class _VendorConvertor(Convertor[str]):
    """A path segment with a dot (``com.acme``): keeps collector paths apart from others."""

    regex = r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_.\-]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("snowplow_vendor", _VendorConvertor())
router = APIRouter()
_lock = threading.Lock()

METHODS = ["GET", "HEAD", "POST", "OPTIONS"]
#: bodies up to this size (a few dozen events) are enriched on the event loop; larger ones,
#: and every request when schemas may come from an Iglu server, in a worker thread so that
#: the loop stays responsive
INLINE_BYTES = 32 * 1024


def collector_of(request: HttpRequest) -> Collector:
    """The app's collector, built on first use from ``snowplow.toml``."""
    app_state = request.app.state
    collector = getattr(app_state, "snowplow_collector", None)
    if collector is None:
        with _lock:
            collector = getattr(app_state, "snowplow_collector", None)
            if collector is None:
                state = state_of(request)
                collector = Collector(sp_config.load(_config_path(state)), state.store.list_projects)
                app_state.snowplow_collector = collector
    return collector


async def _read_body(request: HttpRequest, limit: int) -> tuple[bytes | None, int | None]:
    """The body, or (first ``limit`` bytes, size) when it is larger than ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return b"", int(declared)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], size
        chunks.append(chunk)
    return (b"".join(chunks) if size else None), None


async def collect(request: HttpRequest) -> Response:
    collector = collector_of(request)
    scope = request.scope
    # the path and query as request.url gives them, without building the whole URL (which
    # costs more than the rest of this function)
    path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    project, canonical = collector.resolve_path(path)
    if canonical not in (
        "/i",
        "/ice.png",
        "/com.snowplowanalytics.snowplow/tp2",
        "/r/tp2",
        "/com.snowplowanalytics.iglu/v1",
    ):
        return PlainTextResponse("not found", 404)
    body, too_large = (None, None)
    if request.method == "POST":
        body, too_large = await _read_body(request, collector.collector.max_body_bytes)
    raw = Request(
        method=request.method,
        path=path,
        query=scope["query_string"].decode("utf-8", "replace"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        body=body,
        client_ip=request.client.host if request.client else "unknown",
        body_too_large=too_large,
    )
    if request.method == "OPTIONS":
        return _to_http(collector.preflight(raw))
    state = state_of(request)
    workers = _workers(state)
    worker = workers.take() if workers is not None else None
    if worker is not None:
        assert workers is not None
        state.metrics.collector_requests.labels("worker").inc()
        projects = state.store.list_projects()
        handled = await workers.handle(worker, raw, canonical, project, projects)
    else:
        state.metrics.collector_requests.labels("server").inc()
        if not collector.network_io and (body is None or len(body) <= INLINE_BYTES):
            # a tracker's usual request: enriching it costs less than a hop to a thread
            handled = collector.handle(raw, canonical, project)
        else:
            handled = await run_in_threadpool(collector.handle, raw, canonical, project)
    op = handled.op
    if op is not None:
        await asyncio.wrap_future(state.writer.submit(op))
    return _to_http(handled.response)


def _workers(state: Any) -> CollectorWorkers | None:
    """The collector's worker processes (started at the first request), or None when the
    server enriches every request itself (``collector_workers`` 0 or unset)."""
    pool = state.snowplow_workers
    if pool is None:
        count = state.settings.collector_workers or 0
        if count <= 0:
            return None
        pool = CollectorWorkers(count, _config_path(state), state.writer)
        state.snowplow_workers = pool
        state.metrics.collector_workers.set_function(pool.ready_count)
    return pool  # type: ignore[no-any-return]


def _config_path(state: Any) -> Path:
    return getattr(state.settings, "snowplow_config", None) or (
        state.settings.data_dir / sp_config.FILE_NAME
    )


async def collect_direct(request: HttpRequest) -> Response:
    """:func:`collect` for the fixed collector paths, answered before FastAPI's routing and
    middleware (``DIRECT_ROUTES``): errors are rendered here as the app's handler does."""
    try:
        return await collect(request)
    except DriftlineError as exc:
        from driftline.server.app import error_body

        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Backpressure) else {}
        return JSONResponse(
            error_body(exc.status, exc.message, exc.field), exc.status, headers=headers
        )


def _to_http(response: object) -> Response:
    out = Response(
        response.body,  # type: ignore[attr-defined]
        status_code=response.status,  # type: ignore[attr-defined]
        media_type=response.media_type,  # type: ignore[attr-defined]
    )
    for name, value in response.headers:  # type: ignore[attr-defined]
        out.headers.append(name, value)
    return out


async def health(request: HttpRequest) -> Response:
    return PlainTextResponse("ok")


async def robots(request: HttpRequest) -> Response:
    return PlainTextResponse("User-agent: *\nDisallow: /\n")


async def custom_path(request: HttpRequest) -> Response:
    """Two-segment paths whose first segment has a dot: custom collector paths (aliases in
    ``snowplow.toml``) and other vendors' webhooks (stored as adapter failures)."""
    collector = collector_of(request)
    _, canonical = collector.resolve_path(request.url.path)
    if canonical == request.url.path and request.method in ("GET", "HEAD", "POST"):
        return await _unsupported_vendor(request, collector)
    return await collect(request)


async def _unsupported_vendor(request: HttpRequest, collector: Collector) -> Response:
    body, too_large = (None, None)
    if request.method == "POST":
        body, too_large = await _read_body(request, collector.collector.max_body_bytes)
    raw = Request(
        request.method,
        request.url.path,
        request.url.query,
        [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
        body,
        request.client.host if request.client else "unknown",
        too_large,
    )
    handled = await run_in_threadpool(collector.handle, raw, request.url.path, None)
    op = handled.op
    if op is not None:
        await asyncio.wrap_future(state_of(request).writer.submit(op))
    return _to_http(handled.response)


_FIXED_PATHS = (
    "/i",
    "/ice.png",
    "/com.snowplowanalytics.snowplow/tp2",
    "/com.snowplowanalytics.iglu/v1",
    "/r/tp2",
)
for _path in (
    *_FIXED_PATHS,
    "/t/{token}/i",
    "/t/{token}/com.snowplowanalytics.snowplow/tp2",
    "/t/{token}/r/tp2",
):
    router.add_route(_path, collect, methods=METHODS, include_in_schema=False)
router.add_route(
    "/{vendor:snowplow_vendor}/{version}", custom_path, methods=METHODS, include_in_schema=False
)
router.add_route(
    "/t/{token}/{vendor:snowplow_vendor}/{version}",
    custom_path,
    methods=METHODS,
    include_in_schema=False,
)
#: trackers' usual paths, answered without FastAPI's routing (``driftline.server.direct``);
#: token-prefixed and custom paths keep going through the router
DIRECT_ROUTES = {(method, path): collect_direct for path in _FIXED_PATHS for method in METHODS}
router.add_route("/health", health, methods=["GET", "HEAD"], include_in_schema=False)
router.add_route("/robots.txt", robots, methods=["GET"], include_in_schema=False)
