"""IP lookups (``ip_lookups`` 2-0-x) from MaxMind-format databases (``.mmdb``).

``geo`` (a GeoIP2/GeoLite2 City database) fills ``geo_country, geo_region, geo_city,
geo_zipcode, geo_latitude, geo_longitude, geo_region_name, geo_timezone``; ``isp`` fills
``ip_isp`` and ``ip_organization``; ``domain`` ``ip_domain``; ``connectionType``
``ip_netspeed``. Each is ``{"database": "<file>", "uri": "<dir>"}``; the file is looked for in
the enrichments directory, then under ``uri`` when it is a local path. Needs ``maxminddb``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from driftline.errors import TerminalError
from driftline.snowplow.transform import EnrichingEvent


def _open(spec: dict[str, Any], base: Path | None, what: str) -> Any:
    try:
        import maxminddb
    except ImportError:
        raise TerminalError(
            "the IP lookups enrichment needs maxminddb: pip install 'driftline[snowplow]'"
        ) from None
    database = spec.get("database", "")
    candidates = [Path(database)]
    if base is not None:
        candidates.insert(0, base / database)
    uri = str(spec.get("uri", ""))
    if uri.startswith(("file://", "/")):
        candidates.append(Path(uri.removeprefix("file://")) / database)
    for path in candidates:
        if path.is_file():
            return maxminddb.open_database(str(path))
    raise TerminalError(
        f"ip_lookups: {what} database {database!r} not found (looked in {', '.join(map(str, candidates))})"
    )


class IpLookups:
    SCHEMA_NAME = "ip_lookups"

    def __init__(self, parameters: dict[str, Any], base: Path | None = None) -> None:
        self.readers = {
            kind: _open(parameters[kind], base, kind)
            for kind in ("geo", "isp", "domain", "connectionType")
            if parameters.get(kind)
        }

    def apply(self, ev: EnrichingEvent) -> str | None:
        ip = ev.fields.get("user_ipaddress")
        if not ip:
            return None
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            return None  # not an address (e.g. "unknown"): nothing to look up
        f = ev.fields
        geo = self.readers.get("geo")
        if geo is not None:
            rec = geo.get(ip) or {}
            subdivision = (rec.get("subdivisions") or [{}])[0]
            location = rec.get("location") or {}
            f["geo_country"] = (rec.get("country") or {}).get("iso_code")
            f["geo_region"] = subdivision.get("iso_code")
            f["geo_region_name"] = (subdivision.get("names") or {}).get("en")
            f["geo_city"] = ((rec.get("city") or {}).get("names") or {}).get("en")
            f["geo_zipcode"] = (rec.get("postal") or {}).get("code")
            lat, lon = location.get("latitude"), location.get("longitude")
            f["geo_latitude"] = None if lat is None else f"{float(lat):.4f}".rstrip("0").rstrip(".")
            f["geo_longitude"] = (
                None if lon is None else f"{float(lon):.4f}".rstrip("0").rstrip(".")
            )
            f["geo_timezone"] = location.get("time_zone")
        isp = self.readers.get("isp")
        if isp is not None:
            rec = isp.get(ip) or {}
            f["ip_isp"] = rec.get("isp")
            f["ip_organization"] = rec.get("organization")
        domain = self.readers.get("domain")
        if domain is not None:
            f["ip_domain"] = (domain.get(ip) or {}).get("domain")
        connection = self.readers.get("connectionType")
        if connection is not None:
            f["ip_netspeed"] = (connection.get(ip) or {}).get("connection_type")
        return None
