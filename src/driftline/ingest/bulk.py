"""The fast path of `driftline import events`: a whole NDJSON file in one statement.

Most files that users import are clean: every line an event, every event with its
``$insert_id`` (Mixpanel's exports and the SDKs' traffic look like this). For such a file the
store reads the file itself with its parallel JSON reader, runs the same validation and
identity rules as :mod:`driftline.ingest.normalize` on the way, and writes the rows in one
insert: each record is parsed once, and nothing is copied through Python.

The fast path only ever stores what the exact path would store. The first record it cannot
take as the exact path would (invalid JSON, a validation error, a record without
``$insert_id``, a record near the size limit) stops the statement, the transaction rolls
back, and the importer goes through the file again on the exact path, which stores every
valid record and reports every invalid one by line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftline.ingest.normalize import MAX_EVENT_BYTES, RECORD_PATHS, VALIDATION_CTES

#: What the statement says when it stops at a record the fast path does not take.
REFUSED = "driftline: record needs the exact import path"

#: A record this close to the size limit is measured exactly, on the exact path.
_SIZE_MARGIN = 64 << 10

#: RECORD_PATHS below ``properties`` (relative to it), in RECORD_PATHS order after ``$.event``.
_PROPERTY_PATHS = ["$" + p[len("$.properties") :] for p in RECORD_PATHS[1:-1]]


def _source(path: Path) -> str:
    literal = "'" + str(path).replace("'", "''") + "'"
    n = len(_PROPERTY_PATHS)
    types = ", ".join(f"tp[{i}]" for i in range(1, n + 1))
    values = ", ".join(f"sp[{i}]" for i in range(1, n + 1))
    # the reader prints JSON values compactly: an object's text starts with "{" (one byte
    # to look at instead of a parse of the whole object)
    props_type = "CASE WHEN starts_with(props, '{') THEN 'OBJECT' ELSE json_type(props) END"
    return f"""
WITH r AS (
  SELECT event AS ev, properties AS props,
         json_type(properties, {_PROPERTY_PATHS!r}) AS tp,
         json_extract_string(properties, {_PROPERTY_PATHS!r}) AS sp
  FROM read_json({literal}, format = 'newline_delimited',
                 columns = {{'event': 'JSON', 'properties': 'JSON'}},
                 maximum_object_size = {MAX_EVENT_BYTES})
), v AS (
  SELECT 0 AS idx, strlen(ev) + strlen(props) AS size, true AS ok,
         $origin AS origin_v, 'require' AS policy,
         CAST(NULL AS BIGINT) AS drop_before_ms, CAST(NULL AS VARCHAR) AS fallback_distinct_id,
         CAST(NULL AS BIGINT) AS default_time_ms, CAST(NULL AS VARCHAR) AS properties_over,
         [json_type(ev), {types}, {props_type}] AS t,
         [json_extract_string(ev, '$'), {values}] AS s,
         props
  FROM r
"""


def bulk_import_sql(
    path: Path, *, project_id: int, origin: str, now_ms: int
) -> tuple[str, dict[str, Any]]:
    """A query over the NDJSON file ``path`` giving store rows (the events table's columns
    but ``ingested_at``), or failing with :data:`REFUSED` at the first record it does not take.
    """
    sql = (
        _source(path)
        + VALIDATION_CTES
        + f"""
SELECT CASE WHEN err IS NULL AND size < {MAX_EVENT_BYTES - _SIZE_MARGIN}
            THEN CAST($project_id AS INTEGER)
            ELSE error('{REFUSED}') END AS project_id,
       event,
       epoch_ms(least(time_ms, $now_ms)) AS time,
       distinct_id, device_id, user_id,
       iid_raw AS insert_id,
       CAST(props AS VARCHAR) AS properties,
       CAST(origin_v AS VARCHAR) AS origin,
       CAST(NULL AS VARCHAR) AS origin_key
FROM fin
"""
    )
    return sql, {"project_id": project_id, "origin": origin, "now_ms": now_ms}
