"""Cookie extractor (``cookie_extractor_config``: ``{"cookies": ["sp"]}``) and HTTP header
extractor (``http_header_extractor_config``: ``{"headersPattern": ".*"}``): request cookies
and headers as derived contexts ``org.ietf/http_cookie`` and ``org.ietf/http_header``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from driftline.snowplow.transform import EnrichingEvent

COOKIE_SCHEMA = "iglu:org.ietf/http_cookie/jsonschema/1-0-0"
HEADER_SCHEMA = "iglu:org.ietf/http_header/jsonschema/1-0-0"


class CookieExtractor:
    SCHEMA_NAME = "cookie_extractor_config"

    def __init__(self, parameters: dict[str, Any], base: Path | None = None) -> None:
        self.names = list(parameters.get("cookies", []))

    def apply(self, ev: EnrichingEvent) -> str | None:
        cookies = ev.payload.cookies
        for name in self.names:
            if name in cookies:
                ev.derived.append(
                    {"schema": COOKIE_SCHEMA, "data": {"name": name, "value": cookies[name]}}
                )
        return None


class HeaderExtractor:
    SCHEMA_NAME = "http_header_extractor_config"

    def __init__(self, parameters: dict[str, Any], base: Path | None = None) -> None:
        self.pattern = re.compile(parameters.get("headersPattern", ".*"), re.IGNORECASE)

    def apply(self, ev: EnrichingEvent) -> str | None:
        for header in ev.payload.headers:
            name, _, value = header.partition(": ")
            if name.lower() == "cookie":
                continue
            if self.pattern.fullmatch(name):
                ev.derived.append({"schema": HEADER_SCHEMA, "data": {"name": name, "value": value}})
        return None
