"""``duckdb:///abs/path.duckdb`` → a file path and a schema."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from driftline.errors import InvalidInput


@dataclass(frozen=True)
class DuckDBConfig:
    path: str
    schema: str = "main"


def parse_url(url: str) -> DuckDBConfig:
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.unquote(parts.path)
    if not path or path == "/":
        raise InvalidInput(
            "a duckdb:// URL needs a file: duckdb:///path/to/file.duckdb", field="destination"
        )
    query = dict(urllib.parse.parse_qsl(parts.query))
    return DuckDBConfig(path, query.get("schema", "main"))
