"""The HTTP server: one ASGI app for ingestion, the collector, queries, admin and the web UI.

``create_app`` is imported lazily so that CLI commands that never serve do not pay for the
web framework's import.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from driftline.server.app import create_app

        return create_app
    raise AttributeError(name)
