"""Campaign attribution: ``mkt_*`` fields from the page URL's query string.

Config ``campaign_attribution`` 1-0-1: ``{"mapping": "static", "fields": {"mktMedium":
["utm_medium"], ...}, "mktClickId": {"gclid": "Google", ...}}``. The first listed parameter
present wins. Click ids ``gclid`` (Google), ``msclkid`` (Microsoft) and ``dclid``
(DoubleClick) are known without configuration.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from driftline.snowplow.transform import EnrichingEvent
from driftline.snowplow.tsv import tsv_safe

DEFAULT_FIELDS = {
    "mktMedium": ["utm_medium"],
    "mktSource": ["utm_source"],
    "mktTerm": ["utm_term"],
    "mktContent": ["utm_content"],
    "mktCampaign": ["utm_campaign"],
}
DEFAULT_CLICK_IDS = {"gclid": "Google", "msclkid": "Microsoft", "dclid": "DoubleClick"}
_TARGET = {
    "mktMedium": "mkt_medium",
    "mktSource": "mkt_source",
    "mktTerm": "mkt_term",
    "mktContent": "mkt_content",
    "mktCampaign": "mkt_campaign",
}


class CampaignAttribution:
    SCHEMA_NAME = "campaign_attribution"

    def __init__(self, parameters: dict[str, Any], base: Path | None = None) -> None:
        fields = parameters.get("fields") or DEFAULT_FIELDS
        self.fields = [(_TARGET[k], list(v)) for k, v in fields.items() if k in _TARGET]
        self.click_ids = {**DEFAULT_CLICK_IDS, **(parameters.get("mktClickId") or {})}
        #: the fields a page URL query gives, per distinct query (pages repeat)
        self.attribution = functools.lru_cache(maxsize=16384)(self._attribution)

    def _attribution(self, query: str) -> tuple[tuple[str, str], ...]:
        params = dict(parse_qsl(query, keep_blank_values=True))
        out: list[tuple[str, str]] = []
        for target, names in self.fields:
            for name in names:
                value = params.get(name)
                if value:
                    out.append((target, tsv_safe(value)))
                    break
        for name, network in self.click_ids.items():
            value = params.get(name)
            if value:
                out += [("mkt_clickid", tsv_safe(value)), ("mkt_network", network)]
                break
        return tuple(out)

    def apply(self, ev: EnrichingEvent) -> str | None:
        query = ev.fields.get("page_urlquery")
        if query:
            ev.fields.update(self.attribution(query))
        return None
