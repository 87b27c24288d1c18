"""The HTTP server: one ASGI app for ingestion, the collector, queries, admin and the web UI."""

from driftline.server.app import create_app

__all__ = ["create_app"]
