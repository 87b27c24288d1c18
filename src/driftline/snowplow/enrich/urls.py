"""Splitting page and referrer URLs into their ``*_url*`` fields, as Enrich does.

Trackers send the same few page and referrer URLs again and again: the split, and the fields
it gives, are cached per distinct URL (a pure function of the text)."""

from __future__ import annotations

import functools
from urllib.parse import SplitResult, urlsplit

from driftline.snowplow.transform import EnrichingEvent

DEFAULT_PORTS = {"http": 80, "https": 443}
_SUFFIXES = ("urlscheme", "urlhost", "urlport", "urlpath", "urlquery", "urlfragment")


def split_url(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts


@functools.lru_cache(maxsize=16384)
def url_parts(url: str) -> tuple[str | None, ...] | None:
    """(scheme, host, port, path, query, fragment) of ``url``, or None if it does not parse."""
    parts = split_url(url)
    if parts is None:
        return None
    port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    return (
        parts.scheme,
        parts.hostname,
        str(port) if port is not None else None,
        parts.path or None,
        parts.query or None,
        parts.fragment or None,
    )


@functools.lru_cache(maxsize=8)
def _names(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_{suffix}" for suffix in _SUFFIXES)


@functools.lru_cache(maxsize=16384)
def url_fields(url: str, prefix: str) -> tuple[tuple[str, str | None], ...] | None:
    """The ``<prefix>_url*`` fields of ``url`` as (name, value) pairs, or None if it does not
    parse."""
    parts = url_parts(url)
    if parts is None:
        return None
    return tuple(zip(_names(prefix), parts, strict=True))


def set_url_fields(ev: EnrichingEvent, source: str, prefix: str) -> str | None:
    """Fill ``<prefix>_urlscheme/host/port/path/query/fragment`` from field ``source``."""
    url = ev.fields.get(source)
    if not url:
        return None
    pairs = url_fields(url, prefix)
    if pairs is None:
        return f"{source}: could not parse {url[:200]!r} as a URL"
    ev.fields.update(pairs)
    return None
