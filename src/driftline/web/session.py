"""Web UI sessions: a signed, HttpOnly cookie created from a project secret (or the admin
token), and the CSRF token every form carries.

The cookie holds which projects the browser may open and, per project, a short fingerprint
of the secret it was opened with — never the secret itself. A fingerprint that no longer
matches (the secret was rotated) closes that project. The signing key is derived from the
data directory's admin token, so sessions survive restarts and die with the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field

from starlette.requests import Request

from driftline.errors import InvalidInput
from driftline.model import Project
from driftline.server.auth import state_of

COOKIE = "driftline_session"
MAX_AGE = 14 * 86400


def _key(request: Request) -> bytes:
    token = state_of(request).admin_token.encode()
    return hmac.new(token, b"driftline web session v1", hashlib.sha256).digest()


def fingerprint(request: Request, credential: str) -> str:
    return hmac.new(_key(request), credential.encode(), hashlib.sha256).hexdigest()[:24]


@dataclass
class Session:
    """What a browser may open: projects by id (with their secret's fingerprint), or all."""

    projects: dict[int, str] = field(default_factory=dict)
    admin: str | None = None  # fingerprint of the admin token
    current: int | None = None
    issued: int = 0

    def encode(self, request: Request) -> str:
        body = json.dumps(
            {
                "p": {str(k): v for k, v in self.projects.items()},
                "a": self.admin,
                "c": self.current,
                "t": self.issued or int(time.time()),
            },
            separators=(",", ":"),
        ).encode()
        payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{payload}.{_sign(request, payload)}"


def _sign(request: Request, payload: str) -> str:
    return hmac.new(_key(request), payload.encode(), hashlib.sha256).hexdigest()


def read(request: Request) -> Session | None:
    """The request's session if its cookie is intact, unexpired and its secrets still hold."""
    raw = request.cookies.get(COOKIE)
    if not raw or "." not in raw:
        return None
    payload, _, signature = raw.rpartition(".")
    if not hmac.compare_digest(signature, _sign(request, payload)):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        session = Session(
            projects={int(k): str(v) for k, v in body.get("p", {}).items()},
            admin=body.get("a"),
            current=body.get("c"),
            issued=int(body.get("t", 0)),
        )
    except (ValueError, TypeError, AttributeError):
        return None
    if time.time() - session.issued > MAX_AGE:
        return None
    state = state_of(request)
    if session.admin and session.admin != fingerprint(request, state.admin_token):
        session.admin = None
    return session if session.admin or session.projects else None


def open_projects(request: Request, session: Session) -> list[Project]:
    """The projects this session may open, whose secrets still match."""
    store = state_of(request).store
    projects = store.list_projects()
    if session.admin:
        return projects
    return [
        p
        for p in projects
        if p.id in session.projects
        and hmac.compare_digest(session.projects[p.id], fingerprint(request, p.secret))
    ]


def login(request: Request, credential: str, session: Session | None) -> Session:
    """A session (the existing one, extended) opened with a project secret or the admin token."""
    credential = credential.strip()
    if not credential:
        raise InvalidInput("enter the project secret", field="secret")
    state = state_of(request)
    session = session or Session()
    session.issued = int(time.time())
    if hmac.compare_digest(credential.encode(), state.admin_token.encode()):
        session.admin = fingerprint(request, credential)
        session.current = session.current or state.store.list_projects()[0].id
        return session
    project = state.store.project_by_credential(credential, kind="secret")
    if project is None:
        raise InvalidInput(
            "that is not a project secret; `driftline project list --show-secrets` prints them",
            field="secret",
        )
    session.projects[project.id] = fingerprint(request, credential)
    session.current = project.id
    return session


def csrf_token(request: Request) -> str:
    """Bound to the session cookie: a page of another site cannot know it."""
    raw = request.cookies.get(COOKIE, "")
    return hmac.new(_key(request), b"csrf:" + raw.encode(), hashlib.sha256).hexdigest()[:32]


def check_csrf(request: Request, given: str | None) -> bool:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            return False
    return bool(given) and hmac.compare_digest(str(given), csrf_token(request))
