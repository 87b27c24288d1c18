"""The web UI served by ``driftline serve`` at ``/``: server-rendered pages (Jinja2) with a
little JavaScript, every asset served by driftline itself.

* :mod:`.session` — the signed session cookie created from a project secret, CSRF tokens.
* :mod:`.pages` — what every page shares: the logged-in context, tables and their CSV.
* :mod:`.reports` — Insights, Funnels and Retention; :mod:`.data` — the event and property
  browser, profiles, the live view; :mod:`.connections` — warehouses and syncs;
  :mod:`.pipelines` — pipelines and bad rows; :mod:`.login` — log in/out, project switch,
  static files.
"""

from __future__ import annotations


def routers() -> list[object]:
    from driftline.web import connections, data, login, pipelines, reports

    return [login.router, reports.router, data.router, connections.router, pipelines.router]
