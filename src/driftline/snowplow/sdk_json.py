"""Enriched TSV line → the Analytics SDK JSON shape.

Fields take their JSON types (numbers, ``true``/``false``, ISO-8601 ``…Z`` timestamps); empty
fields are left out; each context becomes ``contexts_<vendor>_<name>_<model>`` (a list of
data objects, several entities of one schema in one list) and the self-describing event
``unstruct_event_<vendor>_<name>_<model>`` (an object). Names follow the Scala/Go SDKs:
dots and dashes become underscores, CamelCase becomes snake_case, only the model is kept
(``iglu:org.w3/PerformanceTiming/jsonschema/1-0-0`` → ``contexts_org_w3_performance_timing_1``).
``geo_location`` is ``"lat,lon"`` when both are there, as the Python SDK adds it. Decimals
(``tr_total``, ``se_value``…) are numbers, as the SDKs give them. Context entities and
self-describing events without a schema URI of four parts are left out.

:func:`to_sdk_json` converts one TSV line; exports render the same objects in the store, from
``snowplow_events`` rows (:data:`SDK_JSON_SQL`), with no Python per event.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson

from driftline.snowplow.fields import FIELD_KINDS

_CAMEL = re.compile(r"([^A-Z_])([A-Z])")
_SEP = re.compile(r"[.\-]")


@functools.lru_cache(maxsize=4096)
def shred_name(prefix: str, schema: str) -> str:
    vendor, name, _format, version = schema.removeprefix("iglu:").split("/")
    vendor = _SEP.sub("_", vendor).lower()
    name = _CAMEL.sub(r"\1_\2", _SEP.sub("_", name)).lower()
    return f"{prefix}_{vendor}_{name}_{version.split('-')[0]}"


def _key(prefix: str, schema: Any) -> str | None:
    """:func:`shred_name`, or None for a schema that is not text of four parts."""
    if not isinstance(schema, str) or schema.removeprefix("iglu:").count("/") != 3:
        return None
    return shred_name(prefix, schema)


def _contexts(text: str, out: dict[str, Any]) -> None:
    entities = orjson.loads(text)
    entities = entities.get("data") if isinstance(entities, dict) else None
    for entity in entities if isinstance(entities, list) else ():
        key = _key("contexts", entity.get("schema")) if isinstance(entity, dict) else None
        if key is not None:
            out.setdefault(key, []).append(entity.get("data"))


def _unstruct(text: str, out: dict[str, Any]) -> None:
    inner = orjson.loads(text)
    inner = inner.get("data") if isinstance(inner, dict) else None
    key = _key("unstruct_event", inner.get("schema")) if isinstance(inner, dict) else None
    if key is not None:
        out[key] = inner.get("data")  # type: ignore[union-attr]


def _bool(value: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError(f"{value!r} is not 0 or 1")
    return value == "1"


def _tstamp(value: str) -> str:
    return value.replace(" ", "T") + "Z"


_JSON_NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"
_IS_NUMBER = re.compile(_JSON_NUMBER).fullmatch


def _decimal(value: str) -> float | str:
    """A decimal as a number, as the SDKs give it (text that is not a number stays text)."""
    return float(value) if _IS_NUMBER(value) else value


_CONVERTERS: dict[str, Any] = {
    "int": int, "double": float, "decimal": _decimal, "bool": _bool, "tstamp": _tstamp,
}  # fmt: skip
#: per field, in TSV order: its name and how its text becomes JSON (None: stays text)
_FIELDS = tuple((name, _CONVERTERS.get(kind)) for name, kind in FIELD_KINDS.items())
_WIDTH = len(_FIELDS)
_LAT = list(FIELD_KINDS).index("geo_latitude")
_LON = list(FIELD_KINDS).index("geo_longitude")
_SELF_DESCRIBING = frozenset(("contexts", "derived_contexts", "unstruct_event"))


def to_sdk_json(line: str) -> dict[str, Any]:
    """One enriched TSV line as the Analytics SDKs render it (ValueError on bad input)."""
    parts = line.rstrip("\r\n").split("\t")
    if len(parts) != _WIDTH:
        raise ValueError(f"Expected {_WIDTH} fields, received {len(parts)} fields.")
    out: dict[str, Any] = {}
    if parts[_LAT] and parts[_LON]:
        out["geo_location"] = f"{parts[_LAT]},{parts[_LON]}"
    errors = []
    for (name, convert), value in zip(_FIELDS, parts, strict=True):
        if not value:
            continue
        try:
            if name in _SELF_DESCRIBING:
                (_unstruct if name == "unstruct_event" else _contexts)(value, out)
            else:
                out[name] = value if convert is None else convert(value)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            errors.append(f"{name}: {exc}")
    if errors:
        raise ValueError("; ".join(errors))
    return out


def _key_sql(prefix: str, schema: str) -> str:
    """SQL for :func:`shred_name` of the text ``schema``; NULL unless it has four parts."""
    parts = f"string_split(CASE WHEN starts_with({schema}, 'iglu:') THEN {schema}[6:] ELSE {schema} END, '/')"
    vendor = "lower(translate(p[1], '.-', '__'))"
    name = r"lower(regexp_replace(translate(p[2], '.-', '__'), '([^A-Z_])([A-Z])', '\1_\2', 'g'))"
    return (
        f"list_transform([{parts}], lambda p: CASE WHEN len(p) = 4 THEN "
        f"'{prefix}_' || {vendor} || '_' || {name} || '_' || split_part(p[4], '-', 1) END)[1]"
    )


def _entities_sql(column: str) -> str:
    """A contexts document's entities as a list of {k: key, d: data as JSON text}, in order.
    An entity without a schema of four parts has no key, and its member comes out NULL, which
    leaves it out of the object."""
    typed = f"""json_transform({column}->'$.data', '[{{"schema":"JSON","data":"JSON"}}]')"""
    schema = "CASE WHEN json_type(e.schema) = 'VARCHAR' THEN e.schema->>'$' END"
    return (
        f"coalesce(list_transform({typed}, lambda e: {{'k': {_key_sql('contexts', schema)}, "
        f"'d': coalesce(e.data::VARCHAR, 'null')}}), [])"
    )


def _group_sql(first: str) -> str:
    """The members ``"key":[data,…]`` of the context keys whose first entity satisfies
    ``first`` (on its position ``i`` in ``_e``), in order of first appearance."""
    member = "to_json(k) || ':[' || array_to_string(list_transform(list_filter(_e, lambda e: e.k = k), lambda e: e.d), ',') || ']'"
    return (
        f"nullif(array_to_string(list_transform(list_filter(_ks, lambda k, i: "
        f"list_position(_ks, k) = i AND {first}), lambda k: {member}), ','), '')"
    )


def _member_sql(name: str, kind: str) -> str:
    key = f"'\"{name}\":'"
    if kind == "str":
        return f"{key} || to_json(nullif({name}, ''))"
    if kind == "int":
        return f"{key} || {name}::VARCHAR"
    if kind == "double":
        return f"{key} || CASE WHEN isfinite({name}) THEN {name}::VARCHAR WHEN {name} IS NOT NULL THEN 'null' END"
    if kind == "decimal":
        return (
            f"{key} || CASE WHEN regexp_full_match({name}, '{_JSON_NUMBER}') THEN {name} "
            f"ELSE to_json(nullif({name}, '')) END"
        )
    if kind == "bool":
        return f"{key} || CASE WHEN {name} THEN 'true' WHEN NOT {name} THEN 'false' END"
    if kind == "tstamp":
        return f"{key} || strftime({name}, '\"%Y-%m-%dT%H:%M:%S.%gZ\"')"
    if name == "contexts":
        return _group_sql("i <= _nc")
    if name == "derived_contexts":
        return _group_sql("i > _nc")
    inner = f"{name}->'$.data'"
    schema = f"CASE WHEN json_type({inner}, '$.schema') = 'VARCHAR' THEN {inner}->>'$.schema' END"
    ue_key = _key_sql("unstruct_event", f"({schema})")
    return f"to_json({ue_key}) || ':' || coalesce(({inner}->'$.data')::VARCHAR, 'null')"


#: Extra columns the JSON render reads, computed first: the entities of both contexts
#: columns (``_e``), their keys (``_ks``) and how many come from ``contexts`` (``_nc``).
SDK_JSON_PREPARE = (
    f"{_entities_sql('contexts')} AS _c, {_entities_sql('derived_contexts')} AS _d",
    "list_concat(_c, _d) AS _e, len(_c) AS _nc",
    "list_transform(_e, lambda e: e.k) AS _ks",
)
#: The Analytics SDK JSON object of a ``snowplow_events`` row, as text (over the columns
#: of :data:`SDK_JSON_PREPARE` as well, with ``_ks`` the keys of ``_e``).
SDK_JSON_SQL = (
    "'{' || concat_ws(',', "
    "CASE WHEN geo_latitude IS NOT NULL AND geo_longitude IS NOT NULL THEN "
    "'\"geo_location\":\"' || geo_latitude::VARCHAR || ',' || geo_longitude::VARCHAR || '\"' END, "
    + ", ".join(_member_sql(n, k) for n, k in FIELD_KINDS.items())
    + ") || '}'"
)
