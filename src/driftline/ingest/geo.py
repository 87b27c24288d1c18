"""IP geolocation from a MaxMind-format database (``.mmdb``: GeoLite2/GeoIP2 City or any
database with the same record layout).

Needs the ``geoip`` extra (``maxminddb``). Set ``geoip_database`` (``DRIFTLINE_GEOIP_DATABASE``)
to the file's path; without it events get no geolocation. Lookups are cached, and a batch
looks up each distinct IP once.
"""

from __future__ import annotations

import functools
import ipaddress
from pathlib import Path
from typing import Any

from driftline.errors import TerminalError


class GeoLocator:
    """Turns an IP address into ``$city``, ``$region`` and a two-letter country code."""

    def __init__(self, path: Path) -> None:
        try:
            import maxminddb
        except ImportError:  # pragma: no cover - depends on the install
            raise TerminalError(
                "geoip_database is set but maxminddb is not installed; "
                "pip install 'driftline[geoip]'"
            ) from None
        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError) as exc:
            raise TerminalError(f"cannot open the GeoIP database {path}: {exc}") from None
        self.lookup = functools.lru_cache(maxsize=65_536)(self._lookup)

    def close(self) -> None:
        self._reader.close()

    def _lookup(self, ip: str) -> tuple[str | None, str | None, str | None] | None:
        """``(city, region, country_code)`` for ``ip``, or None when unknown or invalid."""
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return None
        try:
            record: Any = self._reader.get(address)
        except ValueError:  # an IPv6 address in an IPv4-only database
            return None
        if not isinstance(record, dict):
            return None
        city = _name(record.get("city"))
        subdivisions = record.get("subdivisions")
        region = _name(subdivisions[0]) if isinstance(subdivisions, list) and subdivisions else None
        country = record.get("country")
        code = country.get("iso_code") if isinstance(country, dict) else None
        if city is None and region is None and code is None:
            return None
        return city, region, code if isinstance(code, str) else None


def _name(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    names = entry.get("names")
    if isinstance(names, dict):
        value = names.get("en") or next(iter(names.values()), None)
        return value if isinstance(value, str) else None
    return None


def open_locator(path: Path | None) -> GeoLocator | None:
    return GeoLocator(path) if path else None
