"""``postgresql://`` (and ``redshift://``) URLs → a libpq DSN and a schema."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

from driftline.errors import InvalidInput


@dataclass(frozen=True)
class PostgresConfig:
    dsn: str = field(repr=False)
    schema: str = "public"


def parse_url(url: str, default_port: int = 5432) -> PostgresConfig:
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        raise InvalidInput(
            "a postgresql:// URL needs a host: postgresql://user@host:5432/db", field="destination"
        )
    query = dict(urllib.parse.parse_qsl(parts.query))
    schema = query.pop("schema", "public")
    netloc = parts.netloc
    dsn = urllib.parse.urlunsplit(
        ("postgresql", netloc, parts.path or "/postgres", urllib.parse.urlencode(query), "")
    )
    if parts.port is None and default_port != 5432:
        dsn = dsn.replace(parts.hostname, f"{parts.hostname}:{default_port}", 1)
    return PostgresConfig(dsn, schema)
