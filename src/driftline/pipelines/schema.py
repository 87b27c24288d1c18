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
SAMPLE_ROWS = 100_000
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
    """The kinds each top-level property shows in the selected events.

    The distinct shapes of a sample of :data:`SAMPLE_ROWS` events are merged (parsing every
    event's JSON once more would double the cost of a load). A property that only shows up
    outside the sample still travels in ``properties`` and gets its column in a later step.
    """
    where, params = selection.where(clock)
    rows = store.query_rows(
        f"""SELECT DISTINCT CAST(json_structure(properties) AS VARCHAR) FROM (
                SELECT properties FROM events WHERE {where} LIMIT {SAMPLE_ROWS})""",
        params,
    )
    kinds: dict[str, set[str]] = {}
    for (shape_text,) in rows:
        shape = json.loads(shape_text) if shape_text else None
        if not isinstance(shape, dict):
            continue
        for prop, value in shape.items():
            if prop in SKIPPED:
                continue
            kind = _kind_of(value)
            if kind is not None:
                kinds.setdefault(prop, set()).add(kind)
    return kinds


def _kind_of(shape: Any) -> str | None:
    if isinstance(shape, dict | list) or shape == "JSON":
        return "json"
    return _STRUCTURE_KIND.get(str(shape))


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


def extract_sql(columns: list[PropertyColumn]) -> tuple[str, list[str]]:
    """One JSON parse per event for every property column: ``(list expression, column exprs)``.

    ``_v`` is the list of the properties' JSON values; each column takes its value when the
    kind matches, NULL otherwise (the value is in ``properties`` either way).
    """
    props = sorted({c.property for c in columns})
    index = {p: i + 1 for i, p in enumerate(props)}
    paths = ", ".join(json_path(p) for p in props)
    lst = f"json_extract(properties, [{paths}])" if props else "NULL"
    out = []
    for col in columns:
        v = f"_v[{index[col.property]}]"
        check = {
            "string": f"json_type({v}) = 'VARCHAR'",
            "number": f"json_type({v}) IN ('UBIGINT', 'BIGINT', 'HUGEINT', 'DOUBLE')",
            "boolean": f"json_type({v}) = 'BOOLEAN'",
            "json": f"json_type({v}) IN ('OBJECT', 'ARRAY')",
        }[col.kind]
        value = {
            "string": f"{v} ->> '$'",
            "number": f"CAST({v} AS DOUBLE)",
            "boolean": f"CAST({v} AS BOOLEAN)",
            "json": f"CAST({v} AS VARCHAR)",
        }[col.kind]
        out.append(f"CASE WHEN {check} THEN {value} END")
    return lst, out
