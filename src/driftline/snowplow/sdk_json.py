"""Enriched TSV line → the Analytics SDK JSON shape.

Fields take their JSON types (numbers, ``true``/``false``, ISO-8601 ``…Z`` timestamps); empty
fields are left out; each context becomes ``contexts_<vendor>_<name>_<model>`` (a list of
data objects, several entities of one schema in one list) and the self-describing event
``unstruct_event_<vendor>_<name>_<model>`` (an object). Names follow the Scala/Go SDKs:
dots and dashes become underscores, CamelCase becomes snake_case, only the model is kept
(``iglu:org.w3/PerformanceTiming/jsonschema/1-0-0`` → ``contexts_org_w3_performance_timing_1``).
``geo_location`` is ``"lat,lon"`` when both are there, as the Python SDK adds it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import orjson

from driftline.snowplow.fields import FIELD_KINDS
from driftline.snowplow.tsv import from_line

_CAMEL = re.compile(r"([^A-Z_])([A-Z])")
_SEP = re.compile(r"[.\-]")


@functools.lru_cache(maxsize=4096)
def shred_name(prefix: str, schema: str) -> str:
    vendor, name, _format, version = schema.removeprefix("iglu:").split("/")
    vendor = _SEP.sub("_", vendor).lower()
    name = _CAMEL.sub(r"\1_\2", _SEP.sub("_", name)).lower()
    return f"{prefix}_{vendor}_{name}_{version.split('-')[0]}"


def _contexts(text: str, out: dict[str, Any]) -> None:
    for entity in orjson.loads(text).get("data", []):
        out.setdefault(shred_name("contexts", entity["schema"]), []).append(entity.get("data"))


def _convert(kind: str, value: str) -> Any:
    if kind == "int":
        return int(value)
    if kind == "double":
        return float(value)
    if kind == "bool":
        if value not in ("0", "1"):
            raise ValueError(f"{value!r} is not 0 or 1")
        return value == "1"
    if kind == "tstamp":
        return value.replace(" ", "T") + "Z"
    return value


def to_sdk_json(line: str) -> dict[str, Any]:
    """One enriched TSV line as the Analytics SDKs render it (ValueError on bad input)."""
    fields = from_line(line)
    out: dict[str, Any] = {}
    lat, lon = fields.get("geo_latitude"), fields.get("geo_longitude")
    if lat and lon:
        out["geo_location"] = f"{lat},{lon}"
    errors = []
    for name, value in fields.items():
        if value is None:
            continue
        try:
            if name in ("contexts", "derived_contexts"):
                _contexts(value, out)
            elif name == "unstruct_event":
                inner = orjson.loads(value)["data"]
                out[shred_name("unstruct_event", inner["schema"])] = inner["data"]
            else:
                out[name] = _convert(FIELD_KINDS[name], value)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            errors.append(f"{name}: {exc}")
    if errors:
        raise ValueError("; ".join(errors))
    return out
