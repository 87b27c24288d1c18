"""What the collector records about one HTTP request: Snowplow's "collector payload"."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

SNOWPLOW_VENDOR = "com.snowplowanalytics.snowplow"


@dataclass
class CollectorPayload:
    """One request as the collector saw it (the fields of Snowplow's Thrift payload)."""

    vendor: str
    version: str
    querystring: str | None
    body: str | None
    content_type: str | None
    ip_address: str
    timestamp_ms: int
    useragent: str | None = None
    referer_uri: str | None = None
    headers: list[str] = field(default_factory=list)
    hostname: str | None = None
    network_userid: str | None = None
    collector: str = "driftline-collector"
    cookies: dict[str, str] = field(default_factory=dict)
    project_id: int | None = None

    def timestamp_iso(self) -> str:
        moment = dt.datetime.fromtimestamp(self.timestamp_ms / 1000, dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.timestamp_ms % 1000:03d}Z"

    def as_json(self) -> dict[str, Any]:
        """The payload as bad rows carry it (tracker_protocol_violations, adapter_failures)."""
        return {
            "vendor": self.vendor,
            "version": self.version,
            "querystring": _query_pairs(self.querystring),
            "contentType": self.content_type,
            "body": self.body,
            "collector": self.collector,
            "encoding": "UTF-8",
            "hostname": self.hostname,
            "timestamp": self.timestamp_iso(),
            "ipAddress": self.ip_address,
            "useragent": self.useragent,
            "refererUri": self.referer_uri,
            "headers": self.headers,
            "networkUserId": self.network_userid,
        }

    def raw_json(self, parameters: dict[str, str]) -> dict[str, Any]:
        """The ``raw`` part of schema_violations / enrichment_failures payloads."""
        return {
            "vendor": self.vendor,
            "version": self.version,
            "parameters": [{"name": k, "value": v} for k, v in parameters.items()],
            "contentType": self.content_type,
            "loaderName": self.collector,
            "encoding": "UTF-8",
            "hostname": self.hostname,
            "timestamp": self.timestamp_iso(),
            "ipAddress": self.ip_address,
            "useragent": self.useragent,
            "refererUri": self.referer_uri,
            "headers": self.headers,
            "userId": self.network_userid,
        }


def _query_pairs(querystring: str | None) -> list[dict[str, str | None]]:
    from urllib.parse import parse_qsl

    if not querystring:
        return []
    return [{"name": k, "value": v} for k, v in parse_qsl(querystring, keep_blank_values=True)]
