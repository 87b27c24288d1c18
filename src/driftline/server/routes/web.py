"""The web UI (``/``, ``/insights``, ``/funnels``, ...): pages live in :mod:`driftline.web`."""

from __future__ import annotations

from fastapi import APIRouter

from driftline.web import routers

router = APIRouter(include_in_schema=False)
for _sub in routers():
    router.include_router(_sub)  # type: ignore[arg-type]
