"""Snowplow operations: import enriched data, count and export bad rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from driftline.errors import InvalidInput
from driftline.server.ops import Context, operation
from driftline.snowplow.badrows import KINDS


@operation("snowplow.import")
def import_source(ctx: Context, project_id: int, source: str) -> dict[str, Any]:
    project = ctx.store.get_project(project_id)
    if source.startswith("kinesis://"):
        from driftline.snowplow.kinesis import import_stream

        return import_stream(ctx.store, ctx.writer, source, project.id).as_dict()
    from driftline.snowplow.importer import import_files

    return import_files(ctx.store, ctx.writer, source, project.id).as_dict()


def _window(
    start: str | None, end: str | None, column: str = "received_at"
) -> tuple[str, list[Any]]:
    """`` AND column >= ? AND column < ?`` for the whole days ``start`` to ``end``."""
    where, params = "", []
    for value, op, name in ((start, ">=", "from"), (end, "<", "to")):
        if value is None:
            continue
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(
                f"--{name} must be a date, YYYY-MM-DD (got {value!r})", field=name
            ) from None
        if op == "<":
            day += dt.timedelta(days=1)
        where += f" AND {column} {op} ?"
        params.append(dt.datetime.combine(day, dt.time()))
    return where, params


@operation("snowplow.bad_rows.count")
def count_bad_rows(
    ctx: Context, project_id: int, start: str | None = None, end: str | None = None
) -> list[dict[str, Any]]:
    where, params = _window(start, end)
    rows = ctx.store.query_rows(
        f"""SELECT kind, count(*), min(received_at)::VARCHAR, max(received_at)::VARCHAR
            FROM bad_rows WHERE project_id = ?{where} GROUP BY kind ORDER BY kind""",
        [project_id, *params],
    )
    return [{"kind": k, "count": int(n), "first": a, "last": b} for k, n, a, b in rows]


@operation("snowplow.bad_rows.export")
def export_bad_rows(
    ctx: Context,
    project_id: int,
    start: str | None = None,
    end: str | None = None,
    kind: str | None = None,
    offset: int = 0,
    limit: int = 10_000,
) -> list[str]:
    """One page of bad rows (each its JSON document), oldest first."""
    where, params = _window(start, end)
    if kind and kind not in KINDS:
        raise InvalidInput(f"--kind {kind!r}: use one of {', '.join(KINDS)}", field="kind")
    if kind:
        where += " AND kind = ?"
        params.append(kind)
    rows = ctx.store.query_rows(
        f"""SELECT payload::VARCHAR FROM bad_rows WHERE project_id = ?{where}
            ORDER BY received_at, rowid LIMIT ? OFFSET ?""",
        [project_id, *params, int(limit), int(offset)],
    )
    return [r[0] for r in rows]


@operation("snowplow.export")
def export_enriched(
    ctx: Context,
    project_id: int,
    start: str | None = None,
    end: str | None = None,
    offset: int = 0,
    limit: int = 10_000,
    shape: str = "tsv",
) -> list[Any]:
    """One page of stored enriched events: TSV lines, or Analytics SDK JSON objects."""
    from driftline.snowplow.export import TSV_SQL
    from driftline.snowplow.sdk_json import to_sdk_json

    where, params = _window(start, end, "collector_tstamp")
    rows = ctx.store.query_rows(
        f"""SELECT {TSV_SQL} FROM snowplow_events WHERE project_id = ?{where}
            ORDER BY collector_tstamp, event_id LIMIT ? OFFSET ?""",
        [project_id, *params, int(limit), int(offset)],
    )
    if shape == "json":
        return [to_sdk_json(r[0]) for r in rows]
    return [r[0] for r in rows]
