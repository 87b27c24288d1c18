"""Collector output → Arrow tables for the store, without SQL planning per commit.

The collector has every event's fields in Python already, so the rows for
``snowplow_events`` (131 typed columns) and ``events`` are built here column by column with
pyarrow casts, once per group commit for all merged requests. The event mapping is the same
as :mod:`driftline.snowplow.events` (the SQL used for imports); a test checks that both give
the same events.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
import pyarrow as pa

from driftline.model import EVENT_SCHEMA
from driftline.snowplow.fields import FIELD_KINDS, FIELDS
from driftline.snowplow.mapping import (
    DECIMALS,
    FLOATS,
    INTS,
    MIXPANEL,
    SCREEN,
    TEXT,
    UA,
    UA_CONTEXT,
    ZERO,
)
from driftline.snowplow.sdk_json import shred_name
from driftline.snowplow.shapes import PerShape, compile_function

_ARROW = {
    "str": pa.string(),
    "decimal": pa.string(),
    "json": pa.string(),
    "int": pa.int32(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "tstamp": pa.timestamp("us"),
}


def enriched_table(project_ids: Sequence[int], rows: Sequence[dict[str, str | None]]) -> pa.Table:
    """``project_id`` + the 131 columns of ``snowplow_events``, typed: the field dicts become
    one struct array of the fields any row has (Arrow's converter, no Python loop per
    field), then casts per column; the fields no row has are typed null columns."""
    present = set().union(*rows)
    names = tuple(name for name in FIELDS if name in present)
    struct = pa.array(list(rows), _text_struct(names))
    at = {name: i for i, name in enumerate(names)}
    arrays = [pa.array(project_ids, pa.int32())]
    for name in FIELDS:
        kind = FIELD_KINDS[name]
        i = at.get(name)
        if i is None:
            arrays.append(pa.nulls(len(rows), _ARROW[kind]))
            continue
        column = struct.field(i)
        if kind == "bool":
            column = column.cast(pa.int8()).cast(pa.bool_())
        elif _ARROW[kind] != pa.string():
            column = column.cast(_ARROW[kind])
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=["project_id", *FIELDS])


@functools.lru_cache(maxsize=256)
def _text_struct(names: tuple[str, ...]) -> pa.StructType:
    return pa.struct([(name, pa.string()) for name in names])


def self_describing(
    unstruct: Any, entities: Sequence[Any], derived: Sequence[Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The start of an event's properties — the self-describing event's data, then each
    context's data under its ``contexts_<vendor>_<name>_<model>`` key — and the UA parser's
    context data (empty when there is none)."""
    props: dict[str, Any] = {}
    if unstruct is not None and isinstance(unstruct.get("data"), dict):
        props.update(unstruct["data"])
    for entity in entities:
        props.setdefault(shred_name("contexts", entity.get("schema", "")), []).append(
            entity.get("data")
        )
    ua: dict[str, Any] = {}
    for entity in derived:
        if entity.get("schema", "").startswith(UA_CONTEXT):
            ua = entity.get("data") or {}
            break
    return props, ua


def event_row(
    project_id: int,
    f: dict[str, str | None],
    unstruct: Any,
    entities: Sequence[Any],
    derived: Sequence[Any],
    time_ms: int,
    names: tuple[str, ...] = (),
) -> tuple[Any, ...]:
    """One ``events`` row (EVENT_SCHEMA order) for an enriched event. ``names``: the names of
    its fields before the three JSON fields (``contexts``, ``unstruct_event``,
    ``derived_contexts``, which give no property) were set, when known."""
    props, ua = self_describing(unstruct, entities, derived)
    get = f.get
    if not names or len(names) + 3 != len(f):  # not given, or not those of these fields
        names = tuple(f)
    add = _ROW_PLANS.ready.get(names) or _ROW_PLANS.get(names) or _add_properties
    add(f, props, ua)
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


def _add_properties(f: dict[str, Any], props: dict[str, Any], ua: dict[str, Any]) -> None:
    """The properties from the fields (a field that is not there, or is empty, gives none)
    and the UA context, in the mapping's order (what the compiled functions do)."""
    for key, name in MIXPANEL.items():
        value = f.get(name)
        if value:
            props[key] = value
    for key, name in SCREEN.items():
        value = f.get(name)
        if value:
            props[key] = int(value)
    for key, ua_key in UA.items():
        value = ua.get(ua_key)
        if value:
            props[key] = value
    os_name = ua.get("osFamily") or f.get("os_name")
    if os_name:
        props["$os"] = os_name
    if f.get("v_tracker"):
        props["mp_lib"] = "Snowplow: " + f["v_tracker"]
    props["snowplow_event"] = f.get("event")
    props["snowplow_event_id"] = f.get("event_id")
    for name in TEXT:
        value = f.get(name)
        if value:
            props[name] = value
    for name in INTS:
        value = f.get(name)
        if value:
            props[name] = int(value)
    for name in FLOATS + DECIMALS:
        value = f.get(name)
        if value:
            props[name] = float(value)


def _row_source(names: tuple[str, ...]) -> list[str]:
    """The lines of Python of ``add(f, props, ua)`` for fields with these names: for each mapped
    field there, in the mapping's order, its property when its value is not empty.
    Straight-line code: on Python 3.11 quicker than loops over lists of names. Only names
    from :mod:`driftline.snowplow.mapping` go into the source, as literals."""
    there = set(names)
    lines = ["def add(f, props, ua):"]

    def each(pairs: Iterable[tuple[str, str]], convert: str = "") -> None:
        value = f"{convert}(v)" if convert else "v"
        for key, name in pairs:
            if name in there:
                lines.extend(
                    [f"    v = f[{name!r}]", "    if v:", f"        props[{key!r}] = {value}"]
                )

    each(MIXPANEL.items())
    each(SCREEN.items(), "int")
    for key, ua_key in UA.items():
        lines.extend([f"    v = ua.get({ua_key!r})", "    if v:", f"        props[{key!r}] = v"])
    os_name = " or f['os_name']" if "os_name" in there else ""
    lines.extend([f"    v = ua.get('osFamily'){os_name}", "    if v:", "        props['$os'] = v"])
    if "v_tracker" in there:
        lines.extend(
            ["    v = f['v_tracker']", "    if v:", "        props['mp_lib'] = 'Snowplow: ' + v"]
        )
    for key, name in (("snowplow_event", "event"), ("snowplow_event_id", "event_id")):
        lines.append(f"    props[{key!r}] = " + (f"f[{name!r}]" if name in there else "None"))
    each((name, name) for name in TEXT)
    each(((name, name) for name in INTS), "int")
    each(((name, name) for name in FLOATS + DECIMALS), "float")
    return lines


def _row_plan(
    names: tuple[str, ...],
) -> Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], None]:
    add: Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], None] = compile_function(
        _row_source(names), {}, "event properties"
    )
    return add


#: per sequence of field names: ``add(fields, props, ua)``, :func:`_add_properties` for
#: fields with these names, compiled
_ROW_PLANS = PerShape(_row_plan)


def events_table(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in EVENT_SCHEMA]
    arrays = []
    for field, values in zip(EVENT_SCHEMA, columns, strict=True):
        arrays.append(pa.array(list(values), field.type))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)
