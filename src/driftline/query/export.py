"""Raw event export in Mixpanel's shape: NDJSON, one event per line.

``{"event": NAME, "properties": {"time": <seconds>, "distinct_id": <canonical id>, ...}}``
with ``time`` first and ``distinct_id`` second, then the event's own properties as sent
(``token`` left out), then ``$insert_id`` and ``mp_processing_time_ms``.
``distinct_id`` is the canonical id after identity merge, as Mixpanel exports it. Dates are
inclusive and in the project's timezone. Every event appears once (the store deduplicates).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from driftline.errors import InvalidInput
from driftline.model import FIRST_DAY, LAST_DAY, Project

# $device_id / $user_id stay as the sender wrote them; the rest come from the columns.
_STRIP = (
    "{" + ", ".join(f'"{k}": null' for k in ("time", "distinct_id", "$insert_id", "token")) + "}"
)


def parse_date(value: str, field: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{field} {value!r} is not a date; use YYYY-MM-DD", field=field
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"{field} {day} is not between {FIRST_DAY} and {LAST_DAY}", field=field)
    return day


def utc_range(project: Project, start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, end+1 00:00) in the project's timezone, as naive UTC datetimes."""
    if end < start:
        raise InvalidInput(f"--to {end} is before --from {start}", field="to_date")
    tz = zoneinfo.ZoneInfo(project.timezone)
    lo = dt.datetime.combine(start, dt.time(), tz).astimezone(dt.UTC).replace(tzinfo=None)
    hi = (
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz)
        .astimezone(dt.UTC)
        .replace(tzinfo=None)
    )
    return lo, hi


def export_sql(*, time_in_ms: bool, with_event_filter: bool, limit: int | None) -> str:
    time_expr = "epoch_ms(time)" if time_in_ms else "CAST(floor(epoch_ms(time) / 1000) AS BIGINT)"
    event_filter = "AND list_contains($events, event)" if with_event_filter else ""
    limit_sql = f"LIMIT {int(limit)}" if limit else ""
    return f"""
        SELECT CAST(json_object(
                 'event', event,
                 'properties', json_merge_patch(
                    json_object('time', {time_expr}, 'distinct_id', resolved_distinct_id),
                    json_merge_patch(coalesce(properties, '{{}}'), '{_STRIP}'),
                    json_object('$insert_id', insert_id, 'mp_processing_time_ms', epoch_ms(ingested_at)))
               ) AS VARCHAR) || chr(10) AS line
        FROM events_resolved
        WHERE project_id = $project_id AND time >= $lo AND time < $hi {event_filter}
        ORDER BY time, insert_id
        {limit_sql}
    """


def export_events(
    store: Any,
    project: Project,
    from_date: dt.date,
    to_date: dt.date,
    *,
    time_in_ms: bool = False,
    events: list[str] | None = None,
    limit: int | None = None,
) -> Iterator[bytes]:
    """The export as byte chunks (whole lines), streamed from the store. Bad dates raise
    here, before the first chunk: an HTTP answer has not started yet and can say so."""
    lo, hi = utc_range(project, from_date, to_date)
    params: dict[str, Any] = {"project_id": project.id, "lo": lo, "hi": hi}
    if events:
        params["events"] = events
    sql = export_sql(time_in_ms=time_in_ms, with_event_filter=bool(events), limit=limit)
    return _chunks(store, sql, params)


def _chunks(store: Any, sql: str, params: dict[str, Any]) -> Iterator[bytes]:
    for batch in store.stream(sql, params, batch_rows=50_000):
        yield _lines_bytes(batch.column(0))


def _lines_bytes(column: pa.Array) -> bytes:
    """The concatenated text of a string column, without a per-row Python loop."""
    if isinstance(column, pa.ChunkedArray):
        return b"".join(_lines_bytes(c) for c in column.chunks)
    if column.type == pa.string_view() or column.type == pa.large_string():
        column = column.cast(pa.string())
    if len(column) == 0:
        return b""
    offsets = column.buffers()[1]
    data = column.buffers()[2]
    import numpy as np

    offs = np.frombuffer(offsets, dtype=np.int32, count=len(column) + 1, offset=column.offset * 4)
    return bytes(memoryview(data)[offs[0] : offs[-1]]) if data is not None else b""
