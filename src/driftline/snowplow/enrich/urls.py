"""Splitting page and referrer URLs into their ``*_url*`` fields, as Enrich does."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from driftline.snowplow.transform import EnrichingEvent

DEFAULT_PORTS = {"http": 80, "https": 443}


def split_url(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts


def set_url_fields(ev: EnrichingEvent, source: str, prefix: str) -> str | None:
    """Fill ``<prefix>_urlscheme/host/port/path/query/fragment`` from field ``source``."""
    url = ev.fields.get(source)
    if not url:
        return None
    parts = split_url(url)
    if parts is None:
        return f"{source}: could not parse {url[:200]!r} as a URL"
    f = ev.fields
    f[f"{prefix}_urlscheme"] = parts.scheme
    f[f"{prefix}_urlhost"] = parts.hostname
    port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    f[f"{prefix}_urlport"] = str(port) if port is not None else None
    f[f"{prefix}_urlpath"] = parts.path or None
    f[f"{prefix}_urlquery"] = parts.query or None
    f[f"{prefix}_urlfragment"] = parts.fragment or None
    return None
