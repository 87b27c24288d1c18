"""IP anonymisation (``anon_ip`` 1-0-1): the last ``anonOctets`` octets of an IPv4 address
and the last ``anonSegments`` segments of an IPv6 address become ``x``."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from driftline.snowplow.transform import EnrichingEvent


class AnonIp:
    SCHEMA_NAME = "anon_ip"

    def __init__(self, parameters: dict[str, Any], base: Path | None = None) -> None:
        self.octets = min(max(int(parameters.get("anonOctets", 1)), 0), 4)
        self.segments = min(max(int(parameters.get("anonSegments", self.octets)), 0), 8)

    def apply(self, ev: EnrichingEvent) -> str | None:
        ip = ev.fields.get("user_ipaddress")
        if ip:
            ev.fields["user_ipaddress"] = self.anonymise(ip)
        return None

    def anonymise(self, ip: str) -> str:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return ip
        if address.version == 4:
            parts = ip.split(".")
            keep = 4 - self.octets
            return ".".join(parts[:keep] + ["x"] * self.octets)
        parts = address.exploded.split(":")
        keep = 8 - self.segments
        return ":".join(parts[:keep] + ["x"] * self.segments)
