"""Referer parser (``referer_parser`` 2-0-x): ``refr_medium``, ``refr_source`` and
``refr_term`` from ``page_referrer``.

A referrer on the page's own host, or on one of ``internalDomains``, is ``internal``. Other
hosts are looked up in the referer database (Snowplow's ``referers-latest.json`` layout:
``{medium: {source: {"domains": [...], "parameters": [...]}}}``) — driftline's built-in one,
or the file named by ``database`` (in the enrichments directory, or ``uri`` when it is a
local path), plus any ``referrers`` given inline. The host is tried whole, then without
leading labels (``news.google.com`` → ``google.com``). Unknown hosts are ``unknown``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from driftline.errors import TerminalError
from driftline.snowplow.transform import EnrichingEvent
from driftline.snowplow.tsv import tsv_safe

BUILTIN = Path(__file__).with_name("referers.json")


def _load_database(parameters: dict[str, Any], base: Path | None) -> dict[str, Any]:
    database = parameters.get("database")
    candidates = []
    if database:
        if base is not None:
            candidates.append(base / database)
        uri = str(parameters.get("uri", ""))
        if uri.startswith("file://") or uri.startswith("/"):
            candidates.append(Path(uri.removeprefix("file://")) / database)
    for path in candidates:
        if path.is_file():
            try:
                return dict(json.loads(path.read_text()))
            except json.JSONDecodeError as exc:
                raise TerminalError(f"referer database {path}: not valid JSON ({exc})") from None
    return dict(json.loads(BUILTIN.read_text()))


class RefererParser:
    SCHEMA_NAME = "referer_parser"

    def __init__(self, parameters: dict[str, Any], base: Path | None = None) -> None:
        database = _load_database(parameters, base)
        for medium, sources in (parameters.get("referrers") or {}).items():
            database.setdefault(medium, {}).update(sources)
        self.hosts: dict[str, tuple[str, str, list[str]]] = {}
        for medium, sources in database.items():
            for source, spec in sources.items():
                for domain in spec.get("domains", []):
                    self.hosts[domain.lower()] = (medium, source, list(spec.get("parameters", [])))
        self.internal = {d.lower() for d in parameters.get("internalDomains", [])}
        self.referer = functools.lru_cache(maxsize=16384)(self._referer)

    def lookup(self, host: str) -> tuple[str, str, list[str]] | None:
        host = host.lower()
        while host:
            hit = self.hosts.get(host)
            if hit is not None:
                return hit
            _, dot, rest = host.partition(".")
            if not dot or "." not in rest:
                return None
            host = rest
        return None

    def apply(self, ev: EnrichingEvent) -> str | None:
        f = ev.fields
        host = f.get("refr_urlhost")
        if not host:
            return None
        f.update(self.referer(host, f.get("page_urlhost"), f.get("refr_urlquery")))
        return None

    def _referer(
        self, host: str, page_host: str | None, query: str | None
    ) -> tuple[tuple[str, str], ...]:
        """The ``refr_*`` fields for a referrer (cached per distinct host, page host, query)."""
        if host == page_host or host.lower() in self.internal:
            return (("refr_medium", "internal"),)
        hit = self.lookup(host)
        if hit is None:
            return (("refr_medium", "unknown"),)
        medium, source, parameters = hit
        out = [("refr_medium", medium), ("refr_source", source)]
        if parameters and query:
            values = dict(parse_qsl(query, keep_blank_values=True))
            for name in parameters:
                if values.get(name):
                    out.append(("refr_term", tsv_safe(values[name])))
                    break
        return tuple(out)
