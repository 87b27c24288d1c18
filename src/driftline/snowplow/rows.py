"""Collector output → Arrow tables for the store, without SQL planning per commit.

The collector has every event's fields in Python already, so the rows for
``snowplow_events`` (131 typed columns) and ``events`` are built here column by column with
pyarrow casts, once per group commit for all merged requests. The event mapping is the same
as :mod:`driftline.snowplow.events` (the SQL used for imports); a test checks that both give
the same events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa

from driftline.model import EVENT_SCHEMA
from driftline.snowplow.fields import FIELD_KINDS, FIELDS
from driftline.snowplow.sdk_json import shred_name

_ARROW = {
    "str": pa.string(),
    "decimal": pa.string(),
    "json": pa.string(),
    "int": pa.int32(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "tstamp": pa.timestamp("us"),
}
ZERO = "00000000-0000-0000-0000-000000000000"
_EPOCH = dt.datetime(1970, 1, 1)

_PLAIN = [
    "app_id",
    "platform",
    "page_title",
    "page_urlhost",
    "page_urlpath",
    "page_urlquery",
    "page_urlfragment",
    "refr_urlpath",
    "refr_medium",
    "refr_source",
    "refr_term",
    "mkt_clickid",
    "mkt_network",
    "geo_zipcode",
    "geo_region_name",
    "geo_timezone",
    "ip_isp",
    "ip_organization",
    "ip_domain",
    "ip_netspeed",
    "domain_sessionid",
    "network_userid",
    "se_category",
    "se_label",
    "se_property",
    "tr_orderid",
    "tr_affiliation",
    "tr_city",
    "tr_state",
    "tr_country",
    "tr_currency",
    "ti_orderid",
    "ti_sku",
    "ti_name",
    "ti_category",
    "ti_currency",
    "br_lang",
    "os_timezone",
    "doc_charset",
    "event_vendor",
    "event_version",
    "name_tracker",
]
_INTS = [
    "domain_sessionidx",
    "ti_quantity",
    "br_viewwidth",
    "br_viewheight",
    "pp_xoffset_min",
    "pp_xoffset_max",
    "pp_yoffset_min",
    "pp_yoffset_max",
]
_FLOATS = [
    "geo_latitude",
    "geo_longitude",
    "se_value",
    "tr_total",
    "tr_tax",
    "tr_shipping",
    "ti_price",
]
_MIXPANEL = {
    "$current_url": "page_url",
    "$referrer": "page_referrer",
    "$referring_domain": "refr_urlhost",
    "$city": "geo_city",
    "$region": "geo_region",
    "mp_country_code": "geo_country",
    "$lib_version": "v_tracker",
    "utm_source": "mkt_source",
    "utm_medium": "mkt_medium",
    "utm_campaign": "mkt_campaign",
    "utm_content": "mkt_content",
    "utm_term": "mkt_term",
}
UA_SCHEMA = "iglu:com.snowplowanalytics.snowplow/ua_parser_context/"


def enriched_table(project_ids: Sequence[int], rows: Sequence[dict[str, str | None]]) -> pa.Table:
    """``project_id`` + the 131 columns of ``snowplow_events``, typed."""
    arrays = [pa.array(project_ids, pa.int32())]
    for name in FIELDS:
        column = pa.array([r.get(name) for r in rows], pa.string())
        kind = FIELD_KINDS[name]
        if kind == "bool":
            column = column.cast(pa.int8()).cast(pa.bool_())
        elif _ARROW[kind] != pa.string():
            column = column.cast(_ARROW[kind])
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=["project_id", *FIELDS])


def event_row(
    project_id: int,
    f: dict[str, str | None],
    unstruct: Any,
    entities: Sequence[Any],
    derived: Sequence[Any],
    time_ms: int,
) -> tuple[Any, ...]:
    """One ``events`` row (EVENT_SCHEMA order) for an enriched event."""
    props: dict[str, Any] = {}
    if unstruct is not None and isinstance(unstruct.get("data"), dict):
        props.update(unstruct["data"])
    for entity in entities:
        props.setdefault(shred_name("contexts", entity.get("schema", "")), []).append(
            entity.get("data")
        )
    ua: dict[str, Any] = {}
    for entity in derived:
        if entity.get("schema", "").startswith(UA_SCHEMA):
            ua = entity.get("data") or {}
            break
    get = f.get
    for key, name in _MIXPANEL.items():
        value = get(name)
        if value:
            props[key] = value
    for key in ("dvce_screenwidth", "dvce_screenheight"):
        value = get(key)
        if value:
            props["$screen_width" if key.endswith("width") else "$screen_height"] = int(value)
    for key, ua_key in (
        ("$browser", "useragentFamily"),
        ("$browser_version", "useragentVersion"),
        ("$device", "deviceFamily"),
    ):
        if ua.get(ua_key):
            props[key] = ua[ua_key]
    os_name = ua.get("osFamily") or get("os_name")
    if os_name:
        props["$os"] = os_name
    if get("v_tracker"):
        props["mp_lib"] = "Snowplow: " + get("v_tracker")  # type: ignore[operator]
    props["snowplow_event"] = get("event")
    props["snowplow_event_id"] = get("event_id")
    for name in _PLAIN:
        value = get(name)
        if value:
            props[name] = value
    for name in _INTS:
        value = get(name)
        if value:
            props[name] = int(value)
    for name in _FLOATS:
        value = get(name)
        if value:
            props[name] = float(value)
    event = get("event")
    name = (
        get("se_action")
        if event == "struct" and get("se_action")
        else (get("event_name") or event or "snowplow_event")
    )
    network = get("network_userid")
    device = get("domain_userid") or (network if network != ZERO else None)
    user = get("user_id")
    distinct = user or ("$device:" + (device or get("event_id") or "unknown"))
    return (
        project_id,
        name,
        time_ms,
        distinct,
        device,
        user,
        get("event_id"),
        orjson.dumps(props).decode(),
        "snowplow",
        get("event_id"),
    )


def events_table(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in EVENT_SCHEMA]
    arrays = []
    for field, values in zip(EVENT_SCHEMA, columns, strict=True):
        arrays.append(pa.array(list(values), field.type))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)
