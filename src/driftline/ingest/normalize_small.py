"""The same validation as :mod:`driftline.ingest.normalize`, for a handful of records.

A DuckDB query has a fixed cost of tens of milliseconds (binding, planning, scheduling)
whatever its input, which is nothing for a 2000-event ``/import`` batch and everything for
a ``/track`` request carrying one event. For micro-batches of at most :data:`SMALL_BATCH`
records this module applies the rules in Python instead — but only to records that are
plainly valid: the moment a record is anything else (an error to report, a time given as a
string, a numeric id...), it returns ``None`` and the caller runs the vectorized query,
which owns every error message. A differential test (``tests/ingest/test_normalize_paths``)
checks that both paths store the same rows.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import uuid
from typing import Any

import orjson
import pyarrow as pa

from driftline.model import (
    DEVICE_PREFIX,
    EVENT_SCHEMA,
    INVALID_IDS,
    MAX_FUTURE_MS,
    MIN_EVENT_TIME_MS,
    MS_THRESHOLD,
)

SMALL_BATCH = 64
MAX_EVENT_BYTES = 1_000_000
MAX_PROPERTIES = 255
_INVALID = frozenset(INVALID_IDS)
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")


MAX_STRING_CHARS = 255


def truncate_strings_small(raw: pa.Table) -> pa.Table:
    """String values longer than 255 characters cut to 255, for a few records.

    The Python twin of :func:`driftline.ingest.normalize.truncate_long_strings`, which
    compiles a regular expression on every call (about a millisecond: more than the rest
    of a one-event request costs). Only records long enough to hold such a string are
    parsed; only those that do hold one are rewritten.
    """
    column = raw.column("rec")
    values = column.to_pylist()
    changed = False
    for i, rec in enumerate(values):
        if rec is None or len(rec) < MAX_STRING_CHARS + 3:
            continue
        try:
            doc = orjson.loads(rec)
        except orjson.JSONDecodeError:
            continue  # reported by validation
        if _has_long_string(doc):
            values[i] = orjson.dumps(truncate_strings(doc)).decode()
            changed = True
    if not changed:
        return raw
    index = raw.column_names.index("rec")
    return raw.set_column(index, "rec", pa.array(values, pa.string()))


def _has_long_string(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) > MAX_STRING_CHARS
    if isinstance(value, dict):
        return any(_has_long_string(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_long_string(v) for v in value)
    return False


def truncate_strings(value: Any) -> Any:
    """``value`` (parsed JSON) with every string cut to 255 characters, as Mixpanel does."""
    if isinstance(value, str):
        return value[:MAX_STRING_CHARS]
    if isinstance(value, dict):
        return {k: truncate_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [truncate_strings(v) for v in value]
    return value


class _NotPlain(Exception):
    """This record needs the vectorized path (an error, or an unusual value)."""


def _round_half_away(value: float) -> int:
    floor = math.floor(value)
    return int(floor + 1 if value - floor >= 0.5 else floor)


def _time_ms(value: Any, default: int | None) -> int:
    if value is None:
        if default is None:
            raise _NotPlain
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _NotPlain
    number = float(value)
    if not math.isfinite(number):
        raise _NotPlain
    ms = _round_half_away(number if abs(number) >= MS_THRESHOLD else number * 1000)
    return ms


@functools.lru_cache(maxsize=256)
def _over(text: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The server's properties: what it sets over each event's, and what it removes."""
    doc: dict[str, Any] = orjson.loads(text)
    sets = {k: v for k, v in doc.items() if v is not None}
    return sets, tuple(k for k, v in doc.items() if v is None)


#: the fields of a row as :func:`_plain` returns it, in this order
_ROW = (
    "event",
    "time",
    "distinct_id",
    "device_id",
    "user_id",
    "insert_id",
    "properties",
    "origin",
    "token",
    "ip",
)
Row = tuple[Any, ...]


def _one(rec: str, opts: dict[str, Any], now_ms: int, policy_default: str) -> tuple[Row, bool]:
    if len(rec.encode()) > MAX_EVENT_BYTES:
        raise _NotPlain
    try:
        doc = orjson.loads(rec)
    except orjson.JSONDecodeError:
        raise _NotPlain from None
    return _plain(doc, rec, opts, now_ms, policy_default)


def _plain(
    doc: Any, rec: str | None, opts: dict[str, Any], now_ms: int, policy_default: str
) -> tuple[Row, bool]:
    """The store row of one parsed record (``rec``: its text, made on demand when None),
    as a tuple of the :data:`_ROW` fields, and whether the record is dropped instead."""
    if not isinstance(doc, dict):
        raise _NotPlain
    event, props = doc.get("event"), doc.get("properties")
    if not isinstance(event, str) or not event or not isinstance(props, dict):
        raise _NotPlain
    if len(props) >= MAX_PROPERTIES:
        raise _NotPlain
    value = props.get("time")
    if type(value) is float:  # the common case of _time_ms, inline
        if not math.isfinite(value):
            raise _NotPlain
        scaled = value if abs(value) >= MS_THRESHOLD else value * 1000
        floor = math.floor(scaled)
        time_ms = floor + 1 if scaled - floor >= 0.5 else floor
    else:
        time_ms = _time_ms(value, opts["default_time_ms"])
    if time_ms < MIN_EVENT_TIME_MS or time_ms > now_ms + MAX_FUTURE_MS:
        raise _NotPlain
    dev, uid, did = props.get("$device_id"), props.get("$user_id"), props.get("distinct_id")
    if not (dev is None or isinstance(dev, str)):
        raise _NotPlain
    if not (uid is None or isinstance(uid, str)):
        raise _NotPlain
    if not (did is None or isinstance(did, str)):
        raise _NotPlain
    dev = dev or None
    uid = uid or None
    if did is None and dev is None and uid is None:
        did = opts["fallback_distinct_id"]
    device = dev or (did[len(DEVICE_PREFIX) :] if did and did.startswith(DEVICE_PREFIX) else None)
    user = uid or (did if did and not did.startswith(DEVICE_PREFIX) and did != dev else None)
    distinct = user if user is not None else (DEVICE_PREFIX + device if device else did)
    ident = user if user is not None else (device if device is not None else did)
    if ident is None or ident.lower() in _INVALID:
        raise _NotPlain
    policy = opts["policy"] or policy_default
    iid = props.get("$insert_id")
    if iid is None:
        if policy == "require":
            raise _NotPlain
        if policy == "stable" and rec is None:
            rec = orjson.dumps(doc).decode()
        insert_id = (
            hashlib.md5(rec.encode(), usedforsecurity=False).hexdigest()  # type: ignore[union-attr]
            if policy == "stable"
            else uuid.uuid4().hex
        )
    elif isinstance(iid, str) and _INSERT_ID.fullmatch(iid) and iid.lower() not in _INVALID:
        insert_id = iid
    else:
        raise _NotPlain
    drop_before = opts["drop_before_ms"]
    if drop_before is not None and time_ms < drop_before:
        return None, True  # type: ignore[return-value]
    over = opts["properties_over"]
    if over is not None:
        sets, removed = _over(over)
        props_out = {**props, **sets}  # a key already there keeps its place, as in a merge
        for key in removed:
            props_out.pop(key, None)
    else:
        props_out = props
    token, ip = props.get("token"), props.get("ip")
    return (
        event,
        min(time_ms, now_ms),
        distinct,
        device,
        user,
        insert_id,
        orjson.dumps(props_out).decode(),
        opts["origin"],
        token if isinstance(token, str) else None,
        ip if isinstance(ip, str) else None,
    ), False


def normalize_small(
    raw: pa.Table, *, project_id: int, origin: str, insert_id: str, now_ms: int
) -> tuple[pa.Table, pa.Table, pa.Array, pa.Array] | None:
    """``(events, meta, indexes, dropped)`` when every record is plainly valid, else None."""
    rows = raw.to_pylist()
    kept: list[Row] = []
    indexes: list[int] = []
    dropped: list[int] = []
    try:
        for row in rows:
            rec = row["rec"]
            if rec is None:
                return None
            opts = dict(row)
            opts["origin"] = row["origin"] or origin
            out, is_dropped = _one(rec, opts, now_ms, insert_id)
            if is_dropped:
                dropped.append(row["idx"])
                continue
            kept.append(out)
            indexes.append(row["idx"])
    except (_NotPlain, TypeError, ValueError, orjson.JSONEncodeError):
        return None
    return _tables(kept, indexes, dropped, project_id)


def normalize_small_docs(
    batches: list[tuple[list[Any], dict[str, Any]]],
    *,
    project_id: int,
    origin: str,
    insert_id: str,
    now_ms: int,
) -> tuple[pa.Table, pa.Table, pa.Array, pa.Array] | None:
    """:func:`normalize_small` for records already parsed: ``batches`` holds each
    request's records and its options (the columns of :data:`OPTION_COLUMNS`); record
    indexes run on across batches. The caller makes sure no record can exceed 1 MB.
    Parsing the request once and skipping the record texts is most of the saving."""
    kept: list[Row] = []
    indexes: list[int] = []
    dropped: list[int] = []
    idx = 0
    try:
        for docs, options in batches:
            opts = dict(options)
            opts["origin"] = options.get("origin") or origin
            for doc in docs:
                out, is_dropped = _plain(doc, None, opts, now_ms, insert_id)  # type: ignore[misc]
                if is_dropped:
                    dropped.append(idx)
                else:
                    kept.append(out)
                    indexes.append(idx)
                idx += 1
    except (_NotPlain, TypeError, ValueError, orjson.JSONEncodeError):
        return None
    return _tables(kept, indexes, dropped, project_id)


def truncate_docs(docs: list[Any]) -> None:
    """:func:`truncate_strings_small` for parsed records, in place."""
    for i, doc in enumerate(docs):
        if _has_long_string(doc):
            docs[i] = truncate_strings(doc)


def _tables(
    kept: list[Row], indexes: list[int], dropped: list[int], project_id: int
) -> tuple[pa.Table, pa.Table, pa.Array, pa.Array]:
    n = len(kept)
    columns = dict(zip(_ROW, zip(*kept, strict=True), strict=True)) if n else {}

    def column(name: str, kind: pa.DataType) -> pa.Array:
        return pa.array(columns.get(name, ()), kind)

    events = pa.table(
        {
            "project_id": pa.array([project_id] * n, pa.int32()),
            "event": column("event", pa.string()),
            "time": column("time", pa.int64()).cast(pa.timestamp("ms")),
            "distinct_id": column("distinct_id", pa.string()),
            "device_id": column("device_id", pa.string()),
            "user_id": column("user_id", pa.string()),
            "insert_id": column("insert_id", pa.string()),
            "properties": column("properties", pa.string()),
            "origin": column("origin", pa.string()),
            "origin_key": pa.nulls(n, pa.string()),
        },
        schema=EVENT_SCHEMA,
    )
    meta = pa.table(
        {
            "idx": pa.array(indexes, pa.int64()),
            "token": column("token", pa.string()),
            "ip": column("ip", pa.string()),
        }
    )
    return events, meta, pa.array(indexes, pa.int64()), pa.array(dropped, pa.int64())
