"""What every page shares: the logged-in context, rendering, tables and their CSV download.

A view is ``async def view(request, ctx: Ctx) -> Response`` wrapped by :func:`page`, which
sends a browser without a session to the login page. Every table a page shows is a
:class:`Table`; the same URL with ``format=csv&table=N`` downloads table N as CSV.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from driftline.errors import DriftlineError
from driftline.model import Project
from driftline.server import ops
from driftline.server.auth import state_of
from driftline.web import session as sessions

HERE = Path(__file__).parent
env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass
class Ctx:
    request: Request
    session: sessions.Session
    project: Project
    projects: list[Project]
    tables: list[Table] = field(default_factory=list)

    async def op(self, name: str, /, **args: Any) -> Any:
        """Run a server operation for the current project in a worker thread."""
        state = state_of(self.request)
        context = ops.Context(state.store, state.writer)
        return await run_in_threadpool(
            ops.run, name, context, {**args, "project": str(self.project.id)}
        )

    async def sql(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        store = state_of(self.request).store
        return await run_in_threadpool(store.query_rows, query, list(params))

    def table(self, title: str, columns: list[str], rows: list[list[Any]], note: str = "") -> Table:
        t = Table(title, columns, rows, note)
        self.tables.append(t)
        return t

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        wanted = self.request.query_params.get("format")
        if wanted == "csv" and self.tables:
            return csv_response(self.request, self.tables)
        html = env.get_template(template).render(
            request=self.request,
            project=self.project,
            projects=self.projects,
            csrf=sessions.csrf_token(self.request),
            path=self.request.url.path,
            tables=self.tables,
            csv_url=lambda i: with_params(self.request, format="csv", table=str(i)),
            **values,
        )
        return HTMLResponse(html, status, headers=NO_STORE)


NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}


def csv_response(request: Request, tables: list[Table]) -> Response:
    try:
        index = int(request.query_params.get("table", "0"))
        table = tables[index]
    except (ValueError, IndexError):
        return HTMLResponse("table must be the number of a table on the page", 400)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    name = "".join(c if c.isalnum() else "-" for c in table.title.lower()).strip("-") or "table"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"', **NO_STORE},
    )


def with_params(request: Request, **changes: str | None) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    params += [(k, v) for k, v in changes.items() if v is not None]
    query = urllib.parse.urlencode(params)
    return request.url.path + ("?" + query if query else "")


View = Callable[[Request, Ctx], Awaitable[Response]]


def page(view: View) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a view: require a session (else the login page) and pick the current project."""

    async def wrapped(request: Request) -> Response:
        session = sessions.read(request)
        projects = sessions.open_projects(request, session) if session else []
        if session is None or not projects:
            target = urllib.parse.quote(
                str(request.url.path) + ("?" + request.url.query if request.url.query else "")
            )
            return RedirectResponse(f"/login?next={target}", 303)
        current = next((p for p in projects if p.id == session.current), projects[0])
        ctx = Ctx(request, session, current, projects)
        if request.method == "POST":
            form = await request.form()
            token = form.get("csrf")
            if not sessions.check_csrf(request, token if isinstance(token, str) else None):
                return HTMLResponse(
                    "this form has expired or came from another site; reload the page and try again",
                    403,
                )
        return await view(request, ctx)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def error_text(exc: Exception) -> str:
    if isinstance(exc, DriftlineError):
        return exc.message
    return str(exc)


async def form_dict(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf"}


def chart_json(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element."""
    return json.dumps(value).replace("</", "<\\/")
