"""People and identity mappings: a full snapshot each run, as NDJSON lines.

* people (``mp_people_data``): ``{"distinct_id": ..., "properties": {...}}``;
* identity mappings (``mp_identity_mappings_data``): ``{"distinct_id": "$device:<id>",
  "resolved_distinct_id": <user id>}`` for every device linked to a user before the
  snapshot's time. Resolve events with
  ``coalesce(m.resolved_distinct_id, e.distinct_id)`` joined on ``distinct_id``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from driftline.model import DEVICE_PREFIX
from driftline.pipelines.spec import DataKind

PEOPLE_SQL = """
    SELECT distinct_id, CAST(properties AS VARCHAR) AS properties,
           '{"distinct_id":' || to_json(distinct_id) || ',"properties":'
           || CAST(properties AS VARCHAR) || '}' || chr(10) AS line
    FROM profiles WHERE project_id = $pid ORDER BY distinct_id
"""

IDENTITY_SQL = f"""
    SELECT '{DEVICE_PREFIX}' || device_id AS distinct_id, user_id AS resolved_distinct_id,
           '{{"distinct_id":' || to_json('{DEVICE_PREFIX}' || device_id)
           || ',"resolved_distinct_id":' || to_json(user_id) || '}}' || chr(10) AS line
    FROM identities WHERE project_id = $pid AND first_seen < $asof::TIMESTAMP
    ORDER BY device_id
"""


def render(store: Any, data: DataKind, project_id: int, asof: dt.datetime | None) -> pa.Table:
    """The snapshot's rows: its columns plus ``line`` (the NDJSON text of each)."""
    from driftline.pipelines.encode import read_table

    if data is DataKind.PEOPLE:
        return read_table(store, PEOPLE_SQL, {"pid": project_id})
    return read_table(
        store, IDENTITY_SQL, {"pid": project_id, "asof": asof or dt.datetime(9999, 1, 1)}
    )
