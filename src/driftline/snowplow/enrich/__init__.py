"""Enrichments, configured with Snowplow's enrichment JSON files.

Each enrichment is a class with ``SCHEMA_NAME`` (the config schema's name), built from the
``parameters`` of its config, whose ``apply(event)`` fills fields of an
:class:`~driftline.snowplow.transform.EnrichingEvent` or adds derived contexts, and returns
an error message (an ``enrichment_failures`` bad row) or None. They run in Snowplow's order.

With no configuration, driftline enables campaign attribution, the referer parser (with its
built-in referer database) and the UA parser.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Protocol

from driftline.errors import TerminalError
from driftline.snowplow.transform import EnrichingEvent


class Enrichment(Protocol):
    SCHEMA_NAME: str

    def apply(self, event: EnrichingEvent) -> str | None: ...


def _registry() -> dict[str, type]:
    from driftline.snowplow.enrich.anon_ip import AnonIp
    from driftline.snowplow.enrich.campaign import CampaignAttribution
    from driftline.snowplow.enrich.cookies import CookieExtractor, HeaderExtractor
    from driftline.snowplow.enrich.currency import CurrencyConversion
    from driftline.snowplow.enrich.fingerprint import EventFingerprint
    from driftline.snowplow.enrich.iplookup import IpLookups
    from driftline.snowplow.enrich.pii import PiiPseudonymizer
    from driftline.snowplow.enrich.referer import RefererParser
    from driftline.snowplow.enrich.useragent import UaParser

    classes: list[type] = [
        UaParser,
        CurrencyConversion,
        RefererParser,
        CampaignAttribution,
        EventFingerprint,
        CookieExtractor,
        HeaderExtractor,
        IpLookups,
        AnonIp,
        PiiPseudonymizer,
    ]
    return {cls.SCHEMA_NAME: cls for cls in classes}  # type: ignore[attr-defined]


#: Snowplow's order (EnrichmentManager): UA parser, currency conversion, referer parser,
#: campaign attribution, event fingerprint, cookie extractor, header extractor, IP lookups,
#: IP anonymisation, PII.
ORDER = (
    "ua_parser_config",
    "currency_conversion_config",
    "referer_parser",
    "campaign_attribution",
    "event_fingerprint_config",
    "cookie_extractor_config",
    "http_header_extractor_config",
    "ip_lookups",
    "anon_ip",
    "pii_enrichment_config",
)


def build(configs: list[dict[str, Any]], base: Path | None = None) -> list[Enrichment]:
    """Enrichments from Snowplow enrichment configs (self-describing JSON documents)."""
    registry = _registry()
    chosen: dict[str, Enrichment] = {}
    for config in configs:
        schema = str(config.get("schema", ""))
        data = config.get("data", {})
        name = schema.split("/")[1] if schema.count("/") >= 3 else data.get("name", "")
        if not data.get("enabled", True):
            continue
        cls = registry.get(name)
        if cls is None:
            known = ", ".join(sorted(registry))
            raise TerminalError(
                f"enrichment {name or schema!r} is not supported by driftline; supported: {known}"
            )
        chosen[name] = cls(data.get("parameters", {}) or {}, base=base)
    return [chosen[name] for name in ORDER if name in chosen]


def load_directory(path: Path) -> list[Enrichment]:
    """Enrichments from a directory of ``*.json`` configs, as Enrich's ``--enrichments``."""
    if not path.is_dir():
        raise TerminalError(f"enrichments directory {path} does not exist")
    configs = []
    for file in sorted(path.glob("*.json")):
        try:
            doc = json.loads(file.read_text())
        except json.JSONDecodeError as exc:
            raise TerminalError(f"{file}: not valid JSON ({exc})") from None
        # only self-describing configs; other JSON files (referer databases...) are data
        if isinstance(doc, dict) and str(doc.get("schema", "")).startswith("iglu:"):
            configs.append(doc)
    return build(configs, base=path)


def defaults() -> list[Enrichment]:
    from driftline.snowplow.enrich.campaign import CampaignAttribution
    from driftline.snowplow.enrich.referer import RefererParser
    from driftline.snowplow.enrich.useragent import UaParser

    out: list[Enrichment] = [RefererParser({}), CampaignAttribution({})]
    with contextlib.suppress(TerminalError):  # ua-parser not installed: run without it
        out.insert(0, UaParser({}))
    return out
