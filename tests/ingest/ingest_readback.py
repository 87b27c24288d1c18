"""Reading back what ingestion stored, building events, and a GeoIP test database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from driftline.model import Project
from driftline.store import DuckDBStore

# Test networks (documentation ranges) and what the GeoIP database says about them.
GEO = {
    "203.0.113.0/24": ("Berlin", "Land Berlin", "DE"),
    "198.51.100.0/24": ("Lyon", "Auvergne-Rhone-Alpes", "FR"),
}


def build_geo_db(path: Path) -> Path:
    """A small City-layout .mmdb built with mmdb-writer."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City")
    for network, (city, region, country) in GEO.items():
        writer.insert_network(
            IPSet([network]),
            {
                "city": {"names": {"en": city}},
                "subdivisions": [{"names": {"en": region}}],
                "country": {"iso_code": country, "names": {"en": country}},
            },
        )
    writer.to_db_file(str(path))
    return path


def stored_events(store: DuckDBStore, project_id: int = 1) -> list[dict[str, Any]]:
    names = (
        "event",
        "time_ms",
        "distinct_id",
        "device_id",
        "user_id",
        "insert_id",
        "properties",
        "origin",
    )
    rows = store.query_rows(
        "SELECT event, epoch_ms(time) AS time_ms, distinct_id, device_id, user_id, insert_id, "
        "CAST(properties AS VARCHAR) AS properties, origin FROM events WHERE project_id = ? "
        "ORDER BY time, insert_id",
        [project_id],
    )
    out = [dict(zip(names, row, strict=True)) for row in rows]
    for row in out:
        row["properties"] = json.loads(row["properties"])
    return out


def profile(store: DuckDBStore, distinct_id: str, project_id: int = 1) -> dict[str, Any] | None:
    rows = store.query_rows(
        "SELECT CAST(properties AS VARCHAR) FROM profiles WHERE project_id = ? AND distinct_id = ?",
        [project_id, distinct_id],
    )
    return json.loads(rows[0][0]) if rows else None


def group(store: DuckDBStore, key: str, gid: str, project_id: int = 1) -> dict[str, Any] | None:
    rows = store.query_rows(
        "SELECT CAST(properties AS VARCHAR) FROM groups "
        "WHERE project_id = ? AND group_key = ? AND group_id = ?",
        [project_id, key, gid],
    )
    return json.loads(rows[0][0]) if rows else None


def event(name: str, project: Project | None = None, **props: Any) -> dict[str, Any]:
    """An event in Mixpanel's shape; ``project`` adds its token."""
    if project is not None:
        props.setdefault("token", project.token)
    return {"event": name, "properties": props}
