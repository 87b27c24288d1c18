"""Turn raw Mixpanel-shaped event records into validated store rows, a batch at a time.

Input is an Arrow table with ``idx`` (the record's position, reported back in errors) and
``rec`` (the record's JSON text: ``{"event": ..., "properties": {...}}``). Validation and
the identity rules run as one vectorized DuckDB query over the whole batch (DuckDB is used
here as an in-memory compute engine, never as the store). The result splits into rows ready
for :class:`~driftline.store.ops.AppendEvents` and a list of per-record errors worded as
Mixpanel words them.

Rules (from Mixpanel's ingestion API):

* ``event`` is a non-empty string; ``properties`` an object with fewer than 255 keys; the
  whole record at most 1 MB.
* ``properties.time`` is required: a number of seconds or milliseconds since the epoch (at or
  above 1e11 it is milliseconds), a numeric string, or an ISO-8601 timestamp. Before
  1971-01-01 is rejected; more than 1 hour in the future is rejected; less is clamped to now.
* ``distinct_id`` follows simplified ID merge: ``$user_id`` if set, else
  ``$device:<$device_id>``, else ``distinct_id`` as sent (``$device:``-prefixed values are a
  device, others a user). Values such as ``null``, ``undefined`` or ``0`` are refused.
* ``properties`` is kept as sent; the reserved keys (``time``, ``distinct_id``,
  ``$insert_id``, ``token``, ``$device_id``, ``$user_id``) are authoritative in their own
  columns, and every reader and export takes them from there.
* ``$insert_id`` is at most 36 characters of ``[A-Za-z0-9-]``. When it is missing, the
  ``insert_id`` policy decides: ``require`` (an error), ``stable`` (a hash of the record,
  so re-importing the same file never doubles it) or ``random`` (a fresh id).
"""

from __future__ import annotations

import threading
import time as _time
from dataclasses import dataclass
from typing import Literal

import duckdb
import pyarrow as pa

from driftline.ingest.normalize_small import SMALL_BATCH, normalize_small, truncate_strings
from driftline.model import (
    EVENT_SCHEMA,
    INVALID_IDS,
    MAX_FUTURE_MS,
    MIN_EVENT_TIME_MS,
    MS_THRESHOLD,
)

InsertIdPolicy = Literal["require", "stable", "random"]

MAX_EVENT_BYTES = 1_000_000
MAX_PROPERTIES = 255

_local = threading.local()


def _conn() -> duckdb.DuckDBPyConnection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = duckdb.connect(config={"threads": "2", "autoinstall_known_extensions": "false"})
        conn.execute("SET TimeZone = 'UTC'")
        _local.conn = conn
    return conn


@dataclass(frozen=True)
class RecordError:
    index: int
    field: str
    message: str
    insert_id: str | None = None


@dataclass
class Normalized:
    events: pa.Table  # EVENT_SCHEMA
    errors: list[RecordError]
    #: indexes (``idx``) of the records in ``events``, in the same order
    indexes: pa.Array
    #: ``idx``, ``token`` and ``ip`` (``properties.token`` / ``properties.ip`` when strings),
    #: aligned with ``events``
    meta: pa.Table | None = None
    #: indexes of valid records dropped for their age (``drop_before_ms``)
    dropped: pa.Array | None = None


def invalid_id_sql(expr: str) -> str:
    """SQL: ``expr`` is one of :data:`INVALID_IDS`, in any case.

    A search in one string for the short ones (DuckDB turns ``IN (...)`` into a join that
    lowers every value), and only for values short enough to be one of them: ids of other
    lengths (most real ones) are neither lowered nor searched for.
    """
    assert not any("|" in v or "'" in v for v in INVALID_IDS)
    short = [v for v in INVALID_IDS if len(v) <= _SHORT_INVALID_ID]
    joined = "|" + "|".join(short) + "|"
    longer = sorted({len(v) for v in INVALID_IDS if len(v) > _SHORT_INVALID_ID})
    cases = "".join(
        f" WHEN length({expr}) = {n} THEN "
        + " OR ".join(f"lower({expr}) = '{v}'" for v in INVALID_IDS if len(v) == n)
        for n in longer
    )
    return (
        f"(CASE WHEN length({expr}) <= {_SHORT_INVALID_ID} THEN "
        f"NOT contains({expr}, '|') AND contains('{joined}', '|' || lower({expr}) || '|')"
        f"{cases} ELSE false END)"
    )


#: INVALID_IDS of at most this many characters are looked up in one string.
_SHORT_INVALID_ID = 12


RECORD_PATHS = [
    "$.event",
    "$.properties.time",
    "$.properties.distinct_id",
    '$.properties."$insert_id"',
    '$.properties."$device_id"',
    '$.properties."$user_id"',
    "$.properties.token",
    "$.properties.ip",
    "$.properties",  # last: its type is needed, its text is not (see _VALUE_PATHS)
]
#: ``s[i]``: the values of every path but ``$.properties`` (printing that object as a string
#: is the dearest part of the extraction, and the properties column comes from json_extract)
_VALUE_PATHS = RECORD_PATHS[:-1]
_NUMERIC = "('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT')"
#: A record of fewer bytes cannot hold 255 properties; only longer ones have their keys counted.
_MIN_BYTES_FOR_KEY_LIMIT = 6 * MAX_PROPERTIES

# One parse of each record per json_* call; t[i] / s[i] are the types / values of RECORD_PATHS[i].
#: The records of ``raw`` as the validation chain reads them: ``idx``, ``size`` (bytes),
#: ``ok`` (valid JSON), ``origin_v``, ``policy``, the option columns, ``t`` and ``s`` (the
#: types and values of :data:`RECORD_PATHS`) and ``props`` (the properties' JSON).
_RAW_SOURCE = f"""
WITH r AS (
  SELECT idx, rec, strlen(rec) AS size, json_valid(rec) AS ok,
         coalesce(origin, $origin) AS origin_v, coalesce(policy, $insert_policy) AS policy,
         drop_before_ms, fallback_distinct_id, default_time_ms, properties_over
  FROM raw
), v AS (
  SELECT *,
         CASE WHEN ok THEN json_type(rec, {RECORD_PATHS!r}) END AS t,
         CASE WHEN ok THEN json_extract_string(rec, {_VALUE_PATHS!r}) END AS s,
         CASE WHEN ok THEN json_extract(rec, '$.properties') END AS props
  FROM r
"""

#: Validation and the identity rules over ``v``: adds ``event``, ``time_ms``, ``distinct_id``,
#: ``device_id``, ``user_id``, ``iid_raw``/``iid_type`` and ``err`` (``field|message``, or NULL).
VALIDATION_CTES = f"""), tm AS (
  SELECT *,
    s[1] AS event,
    CASE WHEN t[9] = 'OBJECT' AND size >= {_MIN_BYTES_FOR_KEY_LIMIT}
         THEN len(json_keys(props)) ELSE 0 END AS nkeys,
    CASE WHEN t[2] IN {_NUMERIC} OR t[2] = 'VARCHAR' THEN try_cast(s[2] AS DOUBLE) END AS tnum,
    CASE WHEN t[2] = 'VARCHAR' AND try_cast(s[2] AS DOUBLE) IS NULL
         THEN epoch_ms(try_cast(s[2] AS TIMESTAMPTZ)) END AS tiso_ms,
    nullif(s[5], '') AS dev_raw,
    nullif(s[6], '') AS uid_raw,
    coalesce(
      CASE WHEN t[3] = 'VARCHAR' OR t[3] IN {_NUMERIC} THEN s[3] END,
      CASE WHEN (t[3] IS NULL OR t[3] = 'NULL') AND nullif(s[5], '') IS NULL
                AND nullif(s[6], '') IS NULL THEN fallback_distinct_id END) AS did_raw,
    s[4] AS iid_raw, t[4] AS iid_type
  FROM v
), ids AS (
  SELECT *,
    TRY_CAST(coalesce(
      CASE WHEN tnum IS NULL OR NOT isfinite(tnum) THEN NULL
           WHEN abs(tnum) >= {MS_THRESHOLD} THEN round(tnum)
           ELSE round(tnum * 1000) END,
      tiso_ms,
      CASE WHEN t[2] IS NULL OR t[2] = 'NULL' THEN default_time_ms END) AS BIGINT) AS time_ms,
    coalesce(dev_raw, CASE WHEN starts_with(did_raw, '$device:') THEN substr(did_raw, 9) END) AS device_id,
    coalesce(uid_raw,
      CASE WHEN did_raw <> '' AND NOT starts_with(did_raw, '$device:')
                AND did_raw IS DISTINCT FROM dev_raw THEN did_raw END) AS user_id
  FROM tm
), fin AS (
  SELECT *,
    CASE WHEN user_id IS NOT NULL THEN user_id
         WHEN device_id IS NOT NULL THEN '$device:' || device_id
         ELSE did_raw END AS distinct_id,
    CASE
      WHEN NOT ok THEN 'record|is not valid JSON'
      WHEN size > {MAX_EVENT_BYTES} THEN 'record|event is larger than 1 MB of uncompressed JSON'
      WHEN t[1] IS NULL OR t[1] = 'NULL' THEN 'event|''event'' is required'
      WHEN t[1] <> 'VARCHAR' OR event = '' THEN 'event|''event'' must be a non-empty string'
      WHEN t[9] IS NULL OR t[9] = 'NULL' THEN 'properties|''properties'' is required'
      WHEN t[9] <> 'OBJECT' THEN 'properties|''properties'' must be an object'
      WHEN nkeys >= {MAX_PROPERTIES} THEN 'properties|''properties'' must have fewer than 255 keys'
      WHEN (t[2] IS NULL OR t[2] = 'NULL') AND default_time_ms IS NULL THEN 'properties.time|''properties.time'' is required'
      WHEN time_ms IS NULL THEN 'properties.time|''properties.time'' is invalid: must be specified as seconds since epoch'
      WHEN time_ms < {MIN_EVENT_TIME_MS} THEN 'properties.time|''properties.time'' is invalid: must be after 1971-01-01'
      WHEN time_ms > $now_ms + {MAX_FUTURE_MS} THEN 'properties.time|''properties.time'' is invalid: must not be more than 1 hour in the future'
      WHEN t[3] IS NOT NULL AND t[3] <> 'NULL' AND did_raw IS NULL THEN 'properties.distinct_id|''properties.distinct_id'' is invalid: must be a string'
      WHEN did_raw IS NULL AND device_id IS NULL AND user_id IS NULL THEN 'properties.distinct_id|''properties.distinct_id'' is required'
      WHEN {invalid_id_sql("coalesce(user_id, device_id, did_raw)")} THEN 'properties.distinct_id|''properties.distinct_id'' is invalid: ' || coalesce(user_id, device_id, did_raw) || ' is not a valid identifier'
      WHEN iid_type IS NOT NULL AND iid_type <> 'NULL' AND (iid_type <> 'VARCHAR' OR NOT regexp_full_match(iid_raw, '[A-Za-z0-9-]{{1,36}}')) THEN 'properties.$insert_id|''$insert_id'' is invalid: must only contain alphanumeric or hyphen ''-'' characters and be at most 36 long'
      WHEN iid_type = 'VARCHAR' AND {invalid_id_sql("iid_raw")} THEN 'properties.$insert_id|''$insert_id'' is invalid: ' || iid_raw || ' is not a valid identifier'
      WHEN policy = 'require' AND (iid_type IS NULL OR iid_type = 'NULL') THEN 'properties.$insert_id|''properties.$insert_id'' is required'
    END AS err
  FROM ids
)"""

_SQL = (
    _RAW_SOURCE
    + VALIDATION_CTES
    + """
SELECT idx, err, iid_raw,
       err IS NULL AND time_ms < drop_before_ms AS dropped,
       CASE WHEN t[7] = 'VARCHAR' THEN s[7] END AS token,
       CASE WHEN t[8] = 'VARCHAR' THEN s[8] END AS ip,
       CAST($project_id AS INTEGER) AS project_id,
       event,
       CASE WHEN err IS NULL THEN epoch_ms(least(time_ms, $now_ms)) END AS time,
       distinct_id, device_id, user_id,
       CASE WHEN iid_type = 'VARCHAR' THEN iid_raw
            WHEN policy = 'stable' THEN md5(rec)
            ELSE replace(CAST(uuid() AS VARCHAR), '-', '') END AS insert_id,
       CASE WHEN err IS NOT NULL THEN NULL
            WHEN properties_over IS NULL THEN CAST(props AS VARCHAR)
            ELSE CAST(json_merge_patch(props, properties_over) AS VARCHAR)
       END AS properties,
       CAST(origin_v AS VARCHAR) AS origin,
       CAST(NULL AS VARCHAR) AS origin_key
FROM fin
"""
)


#: Per-record options a caller may add to ``raw`` as columns (NULL: the call's default).
OPTION_COLUMNS: dict[str, pa.DataType] = {
    "origin": pa.string(),
    "policy": pa.string(),  # an InsertIdPolicy
    "drop_before_ms": pa.int64(),  # valid events older than this are dropped, not stored
    "fallback_distinct_id": pa.string(),  # used when the record names no identity at all
    "default_time_ms": pa.int64(),  # used when the record has no properties.time
    # a JSON object of top-level properties set over the record's (a null value removes
    # that property); the record's own nulls and nested values are kept as sent
    "properties_over": pa.string(),
}

MAX_STRING_CHARS = 255
# A JSON string token of at least 256 characters or escapes: a cheap, conservative test for
# "this record may hold a string longer than 255 characters" (checked exactly afterwards).
_LONG_STRING = r'"(?:[^"\\]|\\.){256,}"'


def normalize_records(
    raw: pa.Table,
    *,
    project_id: int,
    origin: str,
    insert_id: InsertIdPolicy = "require",
    now_ms: int | None = None,
    truncate_strings: bool = False,
    small_batch: int = SMALL_BATCH,
) -> Normalized:
    """Validate ``raw`` (``idx``, ``rec`` and any of :data:`OPTION_COLUMNS`) and split it
    into store rows and errors.

    With ``truncate_strings``, string values (and the event name) longer than 255
    characters are cut to 255, as Mixpanel's ingestion API does. Batches of at most
    ``small_batch`` records are tried in Python first (:mod:`normalize_small`).
    """
    if now_ms is None:
        now_ms = int(_time.time() * 1000)
    raw = _with_options(raw)
    if truncate_strings:
        raw = truncate_long_strings(raw)
    if raw.num_rows <= small_batch:
        small = normalize_small(
            raw, project_id=project_id, origin=origin, insert_id=insert_id, now_ms=now_ms
        )
        if small is not None:
            events, meta, indexes, dropped = small
            return Normalized(events, [], indexes, meta, dropped)
    conn = _conn()
    conn.register("raw", raw)
    try:
        out = conn.sql(
            _SQL,
            params={
                "now_ms": now_ms,
                "project_id": project_id,
                "origin": origin,
                "insert_policy": insert_id,
            },
        ).to_arrow_table()
    finally:
        conn.unregister("raw")
    return _split(out)


def _with_options(raw: pa.Table) -> pa.Table:
    raw = raw.select(["idx", "rec", *(c for c in OPTION_COLUMNS if c in raw.column_names)])
    for name, dtype in OPTION_COLUMNS.items():
        if name not in raw.column_names:
            raw = raw.append_column(name, pa.nulls(raw.num_rows, dtype))
    return raw


def truncate_long_strings(raw: pa.Table) -> pa.Table:
    """Cut string values longer than 255 characters in ``raw.rec`` down to 255.

    A vectorized regular expression finds the (rare) records that may hold such a string;
    only those are parsed and rewritten.
    """
    import orjson
    import pyarrow.compute as pc

    rec = raw.column("rec")
    # no record shorter than a 256-character string can hold one: skip the regex for those
    long_enough = pc.greater_equal(pc.utf8_length(rec), MAX_STRING_CHARS + 3)
    if not pc.any(long_enough).as_py():
        return raw
    candidates = pc.indices_nonzero(long_enough)
    maybe = pc.fill_null(pc.match_substring_regex(rec.take(candidates), _LONG_STRING), False)
    if not pc.any(maybe).as_py():
        return raw
    positions = candidates.filter(maybe).to_pylist()
    values = rec.to_pylist()
    for i in positions:
        try:
            doc = orjson.loads(values[i])
        except orjson.JSONDecodeError:
            continue  # reported as invalid JSON by the validation query
        values[i] = orjson.dumps(truncate_strings(doc)).decode()
    return raw.set_column(raw.column_names.index("rec"), "rec", pa.array(values, pa.string()))


def _split(out: pa.Table) -> Normalized:
    import pyarrow.compute as pc

    err = out.column("err")
    bad_mask = pc.is_valid(err)
    errors: list[RecordError] = []
    if pc.any(bad_mask).as_py():
        bad = out.filter(bad_mask).select(["idx", "err", "iid_raw"]).sort_by("idx").to_pylist()
        for row in bad:
            field, _, message = row["err"].partition("|")
            errors.append(RecordError(row["idx"], field, message, row["iid_raw"]))
        out = out.filter(pc.invert(bad_mask))
    dropped_mask = pc.fill_null(out.column("dropped"), False)
    dropped = pc.indices_nonzero(dropped_mask)
    dropped_idx = out.column("idx").take(dropped).combine_chunks()
    if len(dropped):
        out = out.filter(pc.invert(dropped_mask))
    indexes = out.column("idx").combine_chunks()
    events = out.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
    meta = out.select(["idx", "token", "ip"])
    return Normalized(events, errors, indexes, meta, dropped_idx)
