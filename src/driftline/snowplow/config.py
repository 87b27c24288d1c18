"""Snowplow settings: ``snowplow.toml`` in the data directory (or the file named by
``DRIFTLINE_SNOWPLOW_CONFIG``). Every key is optional; see ``docs/snowplow.md``.

```toml
[collector]
project = "default"              # project for events with no token path and no mapped app_id
cookie_domains = ["example.com"] # Domain of the `sp` cookie, matched against the Origin host
paths = { "/com.acme/track" = "/com.snowplowanalytics.snowplow/tp2" }
app_ids = { website = "shop" }   # app_id → project (id or name)
redirects = false                # /r/tp2
redirect_domains = []

[iglu]
resolver = "iglu_resolver.json"  # Snowplow's resolver-config JSON
schema_dirs = ["iglu"]           # static repositories on disk
registries = ["http://127.0.0.1:8181/api"]  # Iglu Servers / static HTTP repositories
cache_ttl = 600

[enrich]
enrichments = "enrichments"      # directory of Snowplow enrichment JSON files
```
Relative paths are relative to the file's directory.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftline.errors import TerminalError
from driftline.snowplow import enrich
from driftline.snowplow.enrich import Enrichment
from driftline.snowplow.iglu import DirectoryRepository, HttpRepository, Repository, Resolver

FILE_NAME = "snowplow.toml"
CANONICAL_PATHS = (
    "/com.snowplowanalytics.snowplow/tp2",
    "/r/tp2",
    "/com.snowplowanalytics.iglu/v1",
)


@dataclass
class CollectorConfig:
    project: str | None = None
    app_ids: dict[str, str] = field(default_factory=dict)
    cookie_enabled: bool = True
    cookie_name: str = "sp"
    cookie_domains: list[str] = field(default_factory=list)
    cookie_fallback_domain: str | None = None
    cookie_expiration_days: int = 365
    cookie_secure: bool = True
    cookie_http_only: bool = True
    cookie_same_site: str = "None"
    redirects: bool = False
    redirect_domains: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    cors_max_age: int = 3600
    max_body_bytes: int = 2 * 1024 * 1024
    max_event_bytes: int = 1024 * 1024


@dataclass
class SnowplowConfig:
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    resolver: Resolver = field(default_factory=Resolver)
    enrichments: list[Enrichment] = field(default_factory=enrich.defaults)


def load(path: Path | None) -> SnowplowConfig:
    """Read ``path`` (a ``snowplow.toml``); defaults when it is None or absent."""
    if path is None or not path.is_file():
        return SnowplowConfig()
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TerminalError(f"{path}: not valid TOML ({exc})") from None
    base = path.parent
    return SnowplowConfig(
        collector=_collector(doc.get("collector", {}), path),
        resolver=_resolver(doc.get("iglu", {}), base, path),
        enrichments=_enrichments(doc.get("enrich", {}), base),
    )


def _collector(section: dict[str, Any], path: Path) -> CollectorConfig:
    known = set(CollectorConfig.__dataclass_fields__)
    unknown = set(section) - known
    if unknown:
        raise TerminalError(
            f"{path}: unknown [collector] keys {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    config = CollectorConfig(**section)
    for alias, target in config.paths.items():
        segments = alias.strip("/").split("/")
        if len(segments) != 2 or "." not in segments[0]:
            raise TerminalError(
                f"{path}: collector path {alias!r} must be two segments with a dot in the first, e.g. /com.acme/track"
            )
        if target not in CANONICAL_PATHS:
            raise TerminalError(
                f"{path}: collector path {alias!r} maps to {target!r}; use one of {', '.join(CANONICAL_PATHS)}"
            )
    return config


def _resolver(section: dict[str, Any], base: Path, path: Path) -> Resolver:
    repos: list[Repository] = []
    resolver_file = section.get("resolver")
    cache_ttl = section.get("cache_ttl")
    if resolver_file:
        file = base / resolver_file
        try:
            from_file = Resolver.from_config(json.loads(file.read_text()), base=file.parent)
        except (OSError, json.JSONDecodeError) as exc:
            raise TerminalError(f"{path}: cannot read Iglu resolver config {file}: {exc}") from None
        repos += [r for r in from_file.repositories if r.name != "driftline embedded"]
        cache_ttl = cache_ttl if cache_ttl is not None else from_file.cache_ttl
    for i, directory in enumerate(section.get("schema_dirs", [])):
        repos.append(DirectoryRepository(f"local {directory}", priority=i, path=base / directory))
    for i, uri in enumerate(section.get("registries", [])):
        repos.append(
            HttpRepository(f"registry {uri}", priority=i, uri=uri, apikey=section.get("apikey"))
        )
    return Resolver(repos, cache_ttl=cache_ttl)


def _enrichments(section: dict[str, Any], base: Path) -> list[Enrichment]:
    directory = section.get("enrichments")
    if directory is None:
        return enrich.defaults()
    return enrich.load_directory(base / directory)
