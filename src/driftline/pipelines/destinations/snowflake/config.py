"""``snowflake://`` URL → connector keyword arguments (the password kept out of repr)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from driftline.errors import InvalidInput


@dataclass(frozen=True)
class SnowflakeConfig:
    connect: dict[str, Any] = field(repr=False)
    database: str = ""
    schema: str = "PUBLIC"


def parse_url(url: str) -> SnowflakeConfig:
    parts = urllib.parse.urlsplit(url)
    path = [p for p in parts.path.split("/") if p]
    if not parts.hostname or not path:
        raise InvalidInput(
            "a snowflake:// URL needs an account and a database: "
            "snowflake://user:password@account/database/schema?warehouse=WH",
            field="destination",
        )
    query = dict(urllib.parse.parse_qsl(parts.query))
    database = path[0]
    schema = path[1] if len(path) > 1 else "PUBLIC"
    connect: dict[str, Any] = {
        "account": parts.hostname,
        "user": urllib.parse.unquote(parts.username or ""),
        "password": urllib.parse.unquote(parts.password or ""),
        "database": database,
        "schema": schema,
    }
    for key in ("warehouse", "role", "host", "protocol", "authenticator"):
        if query.get(key):
            connect[key] = query[key]
    if query.get("port"):
        connect["port"] = int(query["port"])
    connect["session_parameters"] = {"CLIENT_TELEMETRY_ENABLED": False}
    return SnowflakeConfig(connect, database, schema)
