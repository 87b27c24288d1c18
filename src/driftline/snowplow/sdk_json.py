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


def _bool(value: str) -> bool:
    if value not in ("0", "1"):
        raise ValueError(f"{value!r} is not 0 or 1")
    return value == "1"


def _tstamp(value: str) -> str:
    return value.replace(" ", "T") + "Z"


def _convert(kind: str, value: str) -> Any:
    return _CONVERTERS[kind](value) if kind in _CONVERTERS else value


_CONVERTERS: dict[str, Any] = {"int": int, "double": float, "bool": _bool, "tstamp": _tstamp}
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
                if name == "unstruct_event":
                    inner = orjson.loads(value)["data"]
                    out[shred_name("unstruct_event", inner["schema"])] = inner["data"]
                else:
                    _contexts(value, out)
            else:
                out[name] = value if convert is None else convert(value)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            errors.append(f"{name}: {exc}")
    if errors:
        raise ValueError("; ".join(errors))
    return out
