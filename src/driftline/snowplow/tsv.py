"""The enriched-event TSV line: 131 tab-separated fields, written as Snowplow Enrich writes it.

* missing values are empty; strings are made TSV-safe (a tab becomes four spaces, control
  characters are removed);
* timestamps ``yyyy-MM-dd HH:mm:ss.SSS`` in UTC; booleans ``1`` / ``0``;
* ``contexts``, ``unstruct_event`` and ``derived_contexts`` are compact JSON wrapped in the
  ``contexts/jsonschema/1-0-1`` and ``unstruct_event/jsonschema/1-0-0`` schemas.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson

from driftline.snowplow.fields import ALIASES, FIELDS

CONTEXTS_SCHEMA = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
UNSTRUCT_SCHEMA = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"

_EPOCH = dt.datetime(1970, 1, 1)
_UNSAFE = {c: None for c in range(0x20)} | {0x7F: None, 0x09: "    "}


def tsv_safe(value: str) -> str:
    """A string as Enrich stores it: tabs become four spaces, control characters go."""
    if value.isprintable():
        return value
    return value.translate(_UNSAFE)


_SECONDS: dict[int, str] = {}
_MILLIS = tuple(f"{millis:03d}" for millis in range(1000))


def format_tstamp(ms: int) -> str:
    """Milliseconds since the epoch as ``yyyy-MM-dd HH:mm:ss.SSS`` (UTC)."""
    seconds, millis = divmod(ms, 1000)
    prefix = _SECONDS.get(seconds)
    if prefix is None:
        if len(_SECONDS) > 100_000:
            _SECONDS.clear()
        moment = _EPOCH + dt.timedelta(seconds=seconds)
        prefix = _SECONDS[seconds] = f"{moment:%Y-%m-%d %H:%M:%S}."
    return prefix + _MILLIS[millis]


def parse_tstamp(text: str) -> int:
    """``yyyy-MM-dd HH:mm:ss[.SSS]`` (UTC) back to milliseconds since the epoch."""
    moment = dt.datetime.fromisoformat(text.replace(" ", "T").removesuffix("Z"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)


def contexts_json(entities: list[Any]) -> str | None:
    """The ``contexts`` column for a list of self-describing entities (empty → no value)."""
    if not entities:
        return None
    return orjson.dumps({"schema": CONTEXTS_SCHEMA, "data": entities}).decode()


def unstruct_json(event: Any) -> str | None:
    if event is None:
        return None
    return orjson.dumps({"schema": UNSTRUCT_SCHEMA, "data": event}).decode()


def to_line(values: Mapping[str, str | None]) -> str:
    """One TSV line (no newline) from field → already-formatted text."""
    get = values.get
    return "\t".join([get(name) or "" for name in FIELDS])


def from_line(line: str) -> dict[str, str | None]:
    """Field → text (``None`` where empty). Raises ValueError unless there are 131 fields."""
    parts = line.rstrip("\r\n").split("\t")
    if len(parts) != len(FIELDS):
        raise ValueError(f"Expected {len(FIELDS)} fields, received {len(parts)} fields.")
    return {name: (value or None) for name, value in zip(FIELDS, parts, strict=True)}


def canonical_name(name: str) -> str:
    return ALIASES.get(name, name)
