"""UA parser (``ua_parser_config``): a ``ua_parser_context`` derived context from the user
agent, using the ``ua-parser`` package (its built-in regexes, or ``database``/``uri``
naming a ``regexes.yaml``). Results are cached per user agent."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from driftline.errors import TerminalError
from driftline.snowplow.transform import EnrichingEvent

SCHEMA = "iglu:com.snowplowanalytics.snowplow/ua_parser_context/jsonschema/1-0-0"


def _version(*parts: str | None) -> str | None:
    shown = [p for p in parts if p]
    return ".".join(shown) if shown else None


class UaParser:
    SCHEMA_NAME = "ua_parser_config"

    def __init__(self, parameters: dict[str, Any], base: Path | None = None) -> None:
        try:
            import ua_parser
        except ImportError:
            raise TerminalError(
                "the UA parser enrichment needs the ua-parser package: pip install 'driftline[snowplow]'"
            ) from None
        parser = ua_parser.parse
        database = parameters.get("database")
        if database and base is not None and (base / database).is_file():
            from ua_parser import loaders
            from ua_parser.basic import Resolver as BasicResolver

            matchers = loaders.load_yaml(base / database)
            parser = ua_parser.Parser(BasicResolver(matchers)).parse
        self._parse = parser
        self.context = functools.lru_cache(maxsize=4096)(self._context)

    def _context(self, ua: str) -> dict[str, Any]:
        result = self._parse(ua)
        agent, os_, device = result.user_agent, result.os, result.device
        return {
            "schema": SCHEMA,
            "data": {
                "useragentFamily": agent.family if agent else "Other",
                "useragentMajor": agent.major if agent else None,
                "useragentMinor": agent.minor if agent else None,
                "useragentPatch": agent.patch if agent else None,
                "useragentVersion": (
                    f"{agent.family} {_version(agent.major, agent.minor, agent.patch)}".strip()
                    if agent and agent.major
                    else (agent.family if agent else "Other")
                ),
                "osFamily": os_.family if os_ else "Other",
                "osMajor": os_.major if os_ else None,
                "osMinor": os_.minor if os_ else None,
                "osPatch": os_.patch if os_ else None,
                "osPatchMinor": os_.patch_minor if os_ else None,
                "osVersion": (
                    f"{os_.family} {_version(os_.major, os_.minor, os_.patch)}".strip()
                    if os_ and os_.major
                    else (os_.family if os_ else "Other")
                ),
                "deviceFamily": device.family if device else "Other",
            },
        }

    def apply(self, ev: EnrichingEvent) -> str | None:
        ua = ev.fields.get("useragent")
        if ua:
            ev.derived.append(self.context(ua))
        return None
