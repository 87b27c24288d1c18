"""The admin API (``/api/v1/...``), OpenAPI-documented. Projects today; warehouses, syncs
and pipelines join it in their own modules."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request

from driftline.server.auth import is_admin, project_from_secret, require_admin, state_of

router = APIRouter(prefix="/api/v1", tags=["admin"])


class ProjectIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=200, description="Unique project name.")
    timezone: str = Field("UTC", description="IANA timezone used for day boundaries.")


class ProjectOut(BaseModel):
    id: int
    name: str
    token: str
    timezone: str
    secret: str | None = None


@router.get("/projects", response_model=list[ProjectOut], response_model_exclude_none=True)
def list_projects(request: Request, show_secrets: bool = False) -> list[dict[str, object]]:
    """Projects visible to the caller: all with the admin token, else the secret's own."""
    store = state_of(request).store
    if is_admin(request):
        return [p.public(show_secrets) for p in store.list_projects()]
    return [project_from_secret(request).public(show_secrets)]


@router.post("/projects", response_model=ProjectOut, status_code=201)
def create_project(request: Request, body: ProjectIn) -> dict[str, object]:
    """Create a project (admin token). The answer carries its token and secret once."""
    require_admin(request)
    project = state_of(request).store.create_project(body.name, body.timezone)
    return project.public(show_secrets=True)
