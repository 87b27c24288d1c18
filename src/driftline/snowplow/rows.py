"""Collector output → Arrow tables for the store, without SQL planning per commit.

The collector has every event's fields in Python already, so the rows for
``snowplow_events`` (131 typed columns) and ``events`` are built here column by column with
pyarrow casts, once per group commit for all merged requests. The event mapping is the same
as :mod:`driftline.snowplow.events` (the SQL used for imports); a test checks that both give
the same events.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from itertools import compress
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


#: the names read from the fields (and the UA context) into properties, with their keys
_MIXPANEL_KEYS, _MIXPANEL_FIELDS = tuple(MIXPANEL), tuple(MIXPANEL.values())
_SCREEN_KEYS, _SCREEN_FIELDS = tuple(SCREEN), tuple(SCREEN.values())
_UA_KEYS, _UA_FIELDS = tuple(UA), tuple(UA.values())
_TEXT = tuple(TEXT)
_INTS = tuple(INTS)
_NUMBERS = tuple(FLOATS + DECIMALS)


def event_row(
    project_id: int,
    f: dict[str, str | None],
    unstruct: Any,
    entities: Sequence[Any],
    derived: Sequence[Any],
    time_ms: int,
) -> tuple[Any, ...]:
    """One ``events`` row (EVENT_SCHEMA order) for an enriched event.

    Each group of properties is read with ``map`` and its non-empty values kept with
    ``compress``/``filter`` (no Python step per field): the same keys, order and values as
    setting them one by one."""
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
    get = f.get
    _set_present(props, _MIXPANEL_KEYS, list(map(get, _MIXPANEL_FIELDS)))
    _set_present(props, _SCREEN_KEYS, list(map(get, _SCREEN_FIELDS)), int)
    if ua:
        _set_present(props, _UA_KEYS, list(map(ua.get, _UA_FIELDS)))
    os_name = ua.get("osFamily") or get("os_name")
    if os_name:
        props["$os"] = os_name
    tracker = get("v_tracker")
    if tracker:
        props["mp_lib"] = "Snowplow: " + tracker
    event = get("event")
    event_id = get("event_id")
    props["snowplow_event"] = event
    props["snowplow_event_id"] = event_id
    _set_present(props, _TEXT, list(map(get, _TEXT)))
    _set_present(props, _INTS, list(map(get, _INTS)), int)
    _set_present(props, _NUMBERS, list(map(get, _NUMBERS)), float)
    action = get("se_action")
    name = (
        action if event == "struct" and action else (get("event_name") or event or "snowplow_event")
    )
    network = get("network_userid")
    device = get("domain_userid") or (network if network != ZERO else None)
    user = get("user_id")
    distinct = user or ("$device:" + (device or event_id or "unknown"))
    return (
        project_id,
        name,
        time_ms,
        distinct,
        device,
        user,
        event_id,
        orjson.dumps(props).decode(),
        "snowplow",
        event_id,
    )


def _set_present(
    props: dict[str, Any],
    keys: tuple[str, ...],
    values: list[Any],
    convert: Callable[[Any], Any] | None = None,
) -> None:
    """``props[key] = convert(value)`` for each value that is not empty, in order."""
    present = filter(None, values)
    props.update(
        zip(
            compress(keys, values),
            present if convert is None else map(convert, present),
            strict=True,
        )
    )


def events_table(rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in EVENT_SCHEMA]
    arrays = []
    for field, values in zip(EVENT_SCHEMA, columns, strict=True):
        arrays.append(pa.array(list(values), field.type))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)
