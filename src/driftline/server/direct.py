"""Hot routes answered without FastAPI's routing and dependency machinery.

``/track`` and ``/import`` carry most of a server's requests, and their handlers take the
raw :class:`~starlette.requests.Request` and build every response themselves; FastAPI's
per-request work around them (route matching over every route, dependency resolution,
exception middleware) costs more CPU than the handler's own parsing of a single event.
A route module lists such handlers in ``DIRECT_ROUTES`` (``(method, path) -> handler``);
they stay declared on its ``router`` too, so the OpenAPI schema and ``/api/docs`` are
unchanged. :class:`DriftlineApp` answers them before FastAPI's middleware stack, wrapped
only in the metrics middleware, so they are still counted by route path. Handlers catch
their own errors; anything that escapes becomes a logged 500 with no traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("driftline.server")

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class _Route:
    """What the metrics middleware reads from ``scope["route"]``."""

    path: str


class _IndexedHeaders(Headers):
    """Request headers looked up in a dict (the first of repeated names, as Starlette)."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope=scope)
        self._first: dict[bytes, bytes] = {}
        for key, value in reversed(self._list):
            self._first[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._first.get(key.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")

    def __getitem__(self, key: str) -> str:
        value = self._first.get(key.lower().encode("latin-1"))
        if value is None:
            raise KeyError(key)
        return value.decode("latin-1")

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower().encode("latin-1") in self._first


class DirectRequest(Request):
    """A request whose header lookups cost a dict lookup each (handlers look up several)."""

    @property
    def headers(self) -> Headers:
        if not hasattr(self, "_headers"):
            self._headers = _IndexedHeaders(self.scope)
        return self._headers


class DirectRoutes:
    """ASGI middleware: dispatch ``(method, path)`` hits straight to their handler."""

    def __init__(self, app: ASGIApp, routes: dict[tuple[str, str], Handler]) -> None:
        self.app = app
        self.routes = {
            key: (handler, _Route(key[1].rstrip("/") or "/")) for key, handler in routes.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hit = self.routes.get((scope["method"], scope["path"]))
            if hit is not None:
                handler, route = hit
                scope["route"] = route
                try:
                    response = await handler(DirectRequest(scope, receive))
                except Exception:
                    log.exception("unexpected error on %s %s", scope["method"], scope["path"])
                    response = JSONResponse(
                        {"error": "internal error; the server log has the details", "status": 500},
                        500,
                    )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class DriftlineApp(FastAPI):
    """FastAPI, except that the direct routes are answered first."""

    direct: ASGIApp | None = None

    def set_direct(
        self, wrap: Callable[[ASGIApp], ASGIApp], routes: dict[tuple[str, str], Handler]
    ) -> None:
        """Answer ``routes`` directly, through ``wrap`` (the metrics middleware)."""
        self.direct_routes = set(routes)
        self.direct = wrap(DirectRoutes(_not_found, routes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.direct is not None
            and scope["type"] == "http"
            and (scope["method"], scope["path"]) in self.direct_routes
        ):
            scope["app"] = self
            await self.direct(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    await JSONResponse({"error": "not found", "status": 404}, 404)(scope, receive, send)
