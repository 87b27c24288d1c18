"""Warehouse columns inferred from event properties, widened as new ones appear.

Every property lands in ``properties`` (JSON) whatever happens. In addition, each top-level
property gets a typed column in ``mp_master_event``, named as Mixpanel's schematized
pipelines name them: lower case, other characters ``_``, ``$`` becomes an ``mp_`` prefix,
at most 128 characters, a reserved name gets ``res_``, a clash gets ``_1``, ``_2``...

Kinds: ``string``, ``number`` (double), ``boolean``, ``json`` (objects and arrays). When a
property shows a second kind (``items`` was a number, now a string), a second column
``<name>_<kind>`` takes those values: columns are only ever added, never narrowed or
retyped, and a conflict never stops the pipeline. Past ``max_columns`` new properties stay
in ``properties`` only. The mapping (property, kind) → column lives in the warehouse itself
(``mp_property_columns``), written in the same transaction as the rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from driftline.pipelines.layout import Clock
from driftline.pipelines.selection import Selection

KINDS = ("string", "number", "boolean", "json")
FIXED_COLUMNS = (
    "event_name",
    "time",
    "distinct_id",
    "device_id",
    "user_id",
    "insert_id",
    "properties",
    "event_date",
    "mp_processing_time",
)
RESERVED = {*FIXED_COLUMNS, "select", "from", "where", "group", "order", "table", "user", "default"}
#: properties the store keeps in columns; never duplicated as property columns
SKIPPED = {"time", "distinct_id", "$insert_id", "token", "mp_processing_time_ms"}

_STRUCTURE_KIND = {
    "VARCHAR": "string",
    "UBIGINT": "number",
    "BIGINT": "number",
    "HUGEINT": "number",
    "DOUBLE": "number",
    "BOOLEAN": "boolean",
}
_JSON_TYPE_KIND = {**_STRUCTURE_KIND, "OBJECT": "json", "ARRAY": "json"}
_BAD_CHARS = re.compile(r"[^a-z0-9_]")


@dataclass(frozen=True)
class PropertyColumn:
    property: str
    kind: str
    column: str


def column_name(prop: str, kind: str, taken: set[str], conflict: bool) -> str:
    name = prop.lower()
    if name.startswith("$"):
        name = "mp_" + name[1:]
    name = _BAD_CHARS.sub("_", name) or "_"
    if name[0].isdigit():
        name = "_" + name
    if name in RESERVED:
        name = "res_" + name
    if conflict:
        name = f"{name}_{kind}"
    name = name[:120]
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def infer_kinds(store: Any, clock: Clock, selection: Selection) -> dict[str, set[str]]:
    """The kinds each top-level property shows in the selected events."""
    where, params = selection.where(clock)
    rows = store.query_rows(f"SELECT json_group_structure(properties) FROM events WHERE {where}", params)
    structure = json.loads(rows[0][0]) if rows and rows[0][0] else {}
    if not isinstance(structure, dict):
        return {}
    kinds: dict[str, set[str]] = {}
    mixed = []
    for prop, shape in structure.items():
        if prop in SKIPPED:
            continue
        if isinstance(shape, dict | list):
            kinds[prop] = {"json"}
        elif shape == "JSON":
            mixed.append(prop)
        elif shape in _STRUCTURE_KIND:
            kinds[prop] = {_STRUCTURE_KIND[shape]}
    if mixed:
        params["mixed"] = mixed
        found = store.query_rows(
            f"""SELECT k, list(DISTINCT json_type(properties, '$."' || replace(k, '"', '\\"') || '"'))
                FROM (SELECT properties, unnest($mixed::VARCHAR[]) AS k FROM events WHERE {where})
                GROUP BY k""",
            params,
        )
        for prop, types in found:
            got = {_JSON_TYPE_KIND[t] for t in types if t in _JSON_TYPE_KIND}
            if got:
                kinds[prop] = got
    return kinds


def widen(
    existing: list[PropertyColumn], kinds: dict[str, set[str]], max_columns: int
) -> list[PropertyColumn]:
    """The columns to add so that every (property, kind) seen has one (within the limit)."""
    have = {(c.property, c.kind) for c in existing}
    by_prop = {c.property for c in existing}
    taken = {*FIXED_COLUMNS, *(c.column for c in existing)}
    added: list[PropertyColumn] = []
    for prop in sorted(kinds):
        ordered = sorted(kinds[prop], key=KINDS.index)
        for kind in ordered:
            if (prop, kind) in have:
                continue
            if len(existing) + len(added) >= max_columns:
                return added
            conflict = prop in by_prop
            name = column_name(prop, kind, taken, conflict)
            taken.add(name)
            by_prop.add(prop)
            added.append(PropertyColumn(prop, kind, name))
    return added


def json_path(prop: str) -> str:
    escaped = prop.replace("\\", "\\\\").replace('"', '\\"').replace("'", "''")
    return f"'$.\"{escaped}\"'"


def column_sql(col: PropertyColumn) -> str:
    """DuckDB expression extracting a property column's value from ``properties``."""
    path = json_path(col.property)
    kind_check = {
        "string": "= 'VARCHAR'",
        "number": "IN ('UBIGINT', 'BIGINT', 'HUGEINT', 'DOUBLE')",
        "boolean": "= 'BOOLEAN'",
        "json": "IN ('OBJECT', 'ARRAY')",
    }[col.kind]
    value = {
        "string": f"properties ->> {path}",
        "number": f"CAST(properties ->> {path} AS DOUBLE)",
        "boolean": f"CAST(properties ->> {path} AS BOOLEAN)",
        "json": f"CAST(properties -> {path} AS VARCHAR)",
    }[col.kind]
    return f"CASE WHEN json_type(properties, {path}) {kind_check} THEN {value} END"
