"""Log in (project secret or a one-time link printed by ``driftline serve``), log out, switch
project, and the static files (CSS, JavaScript, the vendored uPlot charting library)."""

from __future__ import annotations

import hmac
import time
from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from driftline.errors import InvalidInput
from driftline.server.auth import state_of
from driftline.web import session as sessions
from driftline.web.pages import NO_STORE, Ctx, env, page

router = APIRouter()
HERE = Path(__file__).parent
STATIC = {
    "app.css": (HERE / "static" / "app.css", "text/css"),
    "app.js": (HERE / "static" / "app.js", "text/javascript"),
}
#: uPlot, from the uplot-python package (installed with driftline; never fetched from a CDN)
VENDORED = {
    "uPlot.js": ("uPlot.iife.js", "text/javascript"),
    "uPlot.css": ("uPlot.min.css", "text/css"),
}
ONE_TIME_TTL = 24 * 3600


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/insights"
    return value


def _cookie(request: Request, response: Response, session: sessions.Session) -> Response:
    response.set_cookie(
        sessions.COOKIE,
        session.encode(request),
        max_age=sessions.MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def _login_page(request: Request, error: str = "", status: int = 200) -> Response:
    html = env.get_template("login.html").render(
        request=request, error=error, next=_safe_next(request.query_params.get("next"))
    )
    return HTMLResponse(html, status, headers=NO_STORE)


@router.get("/login")
async def login_form(request: Request) -> Response:
    once = request.query_params.get("once")
    if once:
        return _one_time(request, once)
    return _login_page(request)


def _one_time(request: Request, once: str) -> Response:
    """The one-time link ``driftline serve`` prints: opens the first project, then expires."""
    held = getattr(request.app.state, "web_login_once", None)
    if not held or time.time() - held[1] > ONE_TIME_TTL or not hmac.compare_digest(held[0], once):
        return _login_page(
            request,
            "that one-time link was used or has expired; log in with the project secret",
            400,
        )
    request.app.state.web_login_once = None
    project = state_of(request).store.list_projects()[0]
    session = sessions.login(request, project.secret, sessions.read(request))
    return _cookie(request, RedirectResponse("/insights", 303), session)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await request.form()
    secret = form.get("secret")
    try:
        session = sessions.login(
            request, secret if isinstance(secret, str) else "", sessions.read(request)
        )
    except InvalidInput as exc:
        return _login_page(request, exc.message, 401)
    target = form.get("next")
    return _cookie(
        request,
        RedirectResponse(_safe_next(target if isinstance(target, str) else None), 303),
        session,
    )


async def _logout(request: Request, ctx: Ctx) -> Response:
    response = RedirectResponse("/login", 303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


async def _switch(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    try:
        wanted = int(str(form.get("project", "")))
    except ValueError:
        return HTMLResponse("project must be a project id", 400)
    if wanted not in {p.id for p in ctx.projects}:
        return HTMLResponse("this session has not opened that project; log in with its secret", 403)
    ctx.session.current = wanted
    back = request.headers.get("referer", "")
    path = "/" + back.split("://", 1)[-1].split("/", 1)[-1] if "://" in back else "/insights"
    return _cookie(request, RedirectResponse(_safe_next(path.split("?")[0]), 303), ctx.session)


router.post("/logout")(page(_logout))
router.post("/switch")(page(_switch))


@router.get("/")
async def home(request: Request) -> Response:
    return RedirectResponse("/insights" if sessions.read(request) else "/login", 303)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name in STATIC:
        path, kind = STATIC[name]
        return FileResponse(path, media_type=kind, headers={"Cache-Control": "max-age=3600"})
    if name in VENDORED:
        file, kind = VENDORED[name]
        try:
            body = (resources.files("uplot") / "static" / file).read_bytes()
        except (ModuleNotFoundError, FileNotFoundError):
            return Response(
                "/* uPlot is not installed: pip install uplot-python */", 404, media_type=kind
            )
        return Response(body, media_type=kind, headers={"Cache-Control": "max-age=86400"})
    return Response("not found", 404)
