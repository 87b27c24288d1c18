"""Credentials on requests.

* Ingestion (``/track``, ``/engage``, ``/groups``, the collector): the project token in the
  payload, checked by those routes.
* ``/import``, queries and the admin API: the project secret (or token, for ``/import``) as
  the HTTP Basic user name with an empty password (Mixpanel's form), or a service account
  ``user:secret`` with ``?project_id=``.
* Everything, and cross-project admin (creating projects): the data directory's admin token
  as ``Authorization: Bearer <token>``. The CLI uses it to reach a running server.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from starlette.requests import Request

from driftline.errors import Unauthorized
from driftline.model import Project
from driftline.server.state import ServerState


def state_of(request: Request) -> ServerState:
    return request.app.state.driftline  # type: ignore[no-any-return]


def is_admin(request: Request) -> bool:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return False
    given = header[7:].strip()
    return hmac.compare_digest(given.encode(), state_of(request).admin_token.encode())


def require_admin(request: Request) -> None:
    if not is_admin(request):
        raise Unauthorized(
            "this call needs the admin token (Authorization: Bearer ...); it is in the data directory's admin.token file"
        )


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    raw = header[6:].strip()
    try:
        decoded = base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = raw  # service accounts may send the pair unencoded
    user, _, password = decoded.partition(":")
    return user, password


def project_from_secret(request: Request, *, allow_token: bool = False) -> Project:
    """The project a request's credentials open; raises :class:`Unauthorized` otherwise.

    The admin token opens any project named by ``?project_id=`` (default: the first).
    """
    store = state_of(request).store
    project_id = request.query_params.get("project_id")
    if is_admin(request):
        return store.get_project(project_id)
    creds = basic_credentials(request)
    if creds is None:
        raise Unauthorized(
            "no credentials: use HTTP Basic auth with the project's secret as the user name "
            "(curl -u SECRET: ...); `driftline project list --show-secrets` shows it"
        )
    user, password = creds
    for kind in ("secret", "token") if allow_token else ("secret",):
        project = store.project_by_credential(user, kind=kind)
        if project is not None and (project_id is None or str(project.id) == project_id):
            return project
    # service account form user:secret with project_id: the secret is the password
    if password and project_id is not None:
        project = store.project_by_credential(password, kind="secret")
        if project is not None and str(project.id) == project_id:
            return project
    raise Unauthorized(
        "Invalid credentials: no project has this secret"
        + (f" and id {project_id}" if project_id is not None else "")
        + "; the user name must be the project's secret (`driftline project list "
        "--show-secrets`), or with ?project_id= the password"
    )
