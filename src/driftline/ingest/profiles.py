"""Validate ``/engage`` and ``/groups`` update objects into :class:`ProfileUpdate` values.

An update object carries ``$token``, the profile's key (``$distinct_id``, or ``$group_key``
and ``$group_id``), one operation and optional modifiers: ``$time`` (seconds or ms),
``$ignore_time`` (leave ``$last_seen`` alone), ``$ip`` (locate this address; ``"0"``: don't
locate). Invalid updates are reported with their index and do not stop the valid ones.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from driftline.ingest.geo import GeoLocator
from driftline.model import INVALID_IDS, MS_THRESHOLD, Project
from driftline.store.profile_ops import PROFILE_OPS, ProfileUpdate

MAX_PROFILE_UPDATE_BYTES = 1_000_000
_INVALID = frozenset(INVALID_IDS)


@dataclass
class UpdateError:
    index: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"update {self.index}: {self.message}"


@dataclass
class ParsedUpdates:
    by_project: dict[int, list[ProfileUpdate]] = field(default_factory=lambda: defaultdict(list))
    errors: list[UpdateError] = field(default_factory=list)
    valid: int = 0


class _Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_updates(
    docs: list[Any],
    projects: list[Project],
    *,
    kind: str,
    request_ip: str | None = None,
    geo: GeoLocator | None = None,
) -> ParsedUpdates:
    """Validate update objects of ``kind`` ``"user"`` or ``"group"``."""
    by_token = {p.token: p for p in projects}
    parsed = ParsedUpdates()
    for index, doc in enumerate(docs):
        try:
            project, update = _parse_one(doc, by_token, kind, request_ip, geo)
        except _Invalid as exc:
            parsed.errors.append(UpdateError(index, exc.field, exc.message))
            continue
        parsed.by_project[project.id].append(update)
        parsed.valid += 1
    return parsed


def _parse_one(
    doc: Any,
    by_token: dict[str, Project],
    kind: str,
    request_ip: str | None,
    geo: GeoLocator | None,
) -> tuple[Project, ProfileUpdate]:
    if not isinstance(doc, dict):
        raise _Invalid("update", "each update must be a JSON object")
    token = doc.get("$token")
    if not isinstance(token, str) or not token:
        raise _Invalid("$token", "'$token' is required")
    project = by_token.get(token)
    if project is None:
        raise _Invalid("$token", "'$token' is invalid: no project has this token")
    if kind == "user":
        key: tuple[str, ...] = (_identifier(doc, "$distinct_id"),)
    else:
        key = (_identifier(doc, "$group_key"), _identifier(doc, "$group_id"))
    ops = [k for k in doc if k in PROFILE_OPS]
    if not ops:
        raise _Invalid("operation", f"no operation: send one of {', '.join(PROFILE_OPS)}")
    if len(ops) > 1:
        raise _Invalid("operation", f"one operation per update, got {', '.join(ops)}")
    op = ops[0]
    value = _check_value(op, doc[op])
    ignore_time = doc.get("$ignore_time") in (True, "true", 1, "1")
    defaults = _geo(doc.get("$ip"), request_ip, geo) if kind == "user" else {}
    return project, ProfileUpdate(
        key=key,
        op=op,
        value=value,
        time=_time(doc.get("$time")),
        ignore_time=ignore_time,
        defaults=defaults,
    )


def _identifier(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if isinstance(value, bool) or value is None:
        raise _Invalid(name, f"'{name}' is required and must be a string")
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise _Invalid(name, f"'{name}' must be a non-empty string")
    if value.lower() in _INVALID:
        raise _Invalid(name, f"'{name}' is invalid: {value} is not a valid identifier")
    return value


def _check_value(op: str, value: Any) -> Any:
    if op == "$delete":
        return None
    if op == "$unset":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise _Invalid("$unset", "'$unset' must be a non-empty list of property names")
        return value
    if not isinstance(value, dict):
        raise _Invalid(op, f"'{op}' must be an object of property names to values")
    if op == "$add":
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise _Invalid(f"{op}.{k}", f"'{op}.{k}' must be a number")
    if op == "$union":
        for k, v in value.items():
            if not isinstance(v, list):
                raise _Invalid(f"{op}.{k}", f"'{op}.{k}' must be a list")
    return value


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or number <= 0:
        return None
    seconds = number / 1000 if number >= MS_THRESHOLD else number
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return None


def _geo(ip_field: Any, request_ip: str | None, geo: GeoLocator | None) -> dict[str, Any]:
    if geo is None:
        return {}
    ip = request_ip
    if isinstance(ip_field, str) and ip_field:
        ip = None if ip_field == "0" else ip_field
    elif ip_field in (0, False):
        ip = None
    if not ip:
        return {}
    found = geo.lookup(ip)
    if found is None:
        return {}
    city, region, country = found
    doc = {"$city": city, "$region": region, "$country_code": country}
    return {k: v for k, v in doc.items() if v is not None}
