"""Bad rows in Snowplow's shapes: self-describing JSON under
``iglu:com.snowplowanalytics.snowplow.badrows/<kind>/jsonschema/<version>``, each
``{"processor", "failure", "payload"}``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from driftline import __version__

VENDOR = "com.snowplowanalytics.snowplow.badrows"
VERSIONS = {
    "tracker_protocol_violations": "1-0-1",
    "adapter_failures": "1-0-0",
    "schema_violations": "2-0-0",
    "enrichment_failures": "2-0-0",
    "size_violation": "1-0-0",
    "collector_payload_format_violation": "1-0-0",
    "loader_parsing_error": "2-0-0",
}
PROCESSOR = {"artifact": "driftline", "version": __version__}
KINDS = tuple(VERSIONS)


@dataclass
class BadRow:
    kind: str
    failure: dict[str, Any]
    payload: Any
    project_id: int | None = None

    @property
    def schema(self) -> str:
        return f"iglu:{VENDOR}/{self.kind}/jsonschema/{VERSIONS[self.kind]}"

    def document(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "data": {"processor": PROCESSOR, "failure": self.failure, "payload": self.payload},
        }

    def json(self) -> str:
        return orjson.dumps(self.document()).decode()


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def size_violation(actual: int, maximum: int, raw: str, expectation: str) -> BadRow:
    return BadRow(
        "size_violation",
        {
            "timestamp": now_iso(),
            "maximumAllowedSizeBytes": maximum,
            "actualSizeBytes": actual,
            "expectation": expectation,
        },
        raw[: maximum // 10],
    )


def tracker_protocol(
    vendor: str, version: str, messages: list[dict[str, Any]], payload: dict[str, Any]
) -> BadRow:
    kind = (
        "tracker_protocol_violations"
        if vendor in ("com.snowplowanalytics.snowplow", "r")
        else "adapter_failures"
    )
    return BadRow(
        kind,
        {"timestamp": now_iso(), "vendor": vendor, "version": version, "messages": messages},
        payload,
    )


def enrich_failure(
    kind: str, messages: list[dict[str, Any]], enriched: dict[str, Any], raw: dict[str, Any]
) -> BadRow:
    return BadRow(
        kind,
        {"timestamp": now_iso(), "messages": messages},
        {"enriched": enriched, "raw": raw},
    )
