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


def _page(
    ctx: Context,
    table: str,
    render: str,
    order: tuple[str, str],
    where: str,
    params: list[Any],
    after: list[Any] | None,
    limit: int,
    prepare: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One page of ``render`` over the rows of ``table`` in the order ``order`` (a timestamp
    and a text column, then the row id), from after the cursor ``after`` on: ``{"items":
    [...], "after": cursor of the last item, or None at the end}``. The rows are picked by
    their keys alone and only they are rendered, so every page costs about the same (an
    ``OFFSET`` would scan and render every earlier row again); rows written meanwhile never
    shift a later page. Each of ``prepare`` adds columns for ``render`` (a select list, each
    over the columns of the ones before)."""
    ts, key = order
    keyed = f"coalesce({key}, '')"
    if after:
        where += (
            f" AND {ts} >= ?::TIMESTAMP AND ({ts} > ?::TIMESTAMP OR ({ts} = ?::TIMESTAMP AND "
            f"({keyed} > ? OR ({keyed} = ? AND rowid > ?))))"
        )
        t, k, r = after
        params = [*params, t, t, t, k, k, int(r)]
    picked = f"""(SELECT {table}.*, page.t AS _t, page.k AS _k, page.id AS _id
        FROM {table} JOIN page ON {table}.rowid = page.id)"""
    for columns in prepare:
        picked = f"(SELECT *, {columns} FROM {picked})"
    rows = ctx.store.query_rows(
        f"""WITH page AS (
                SELECT rowid AS id, {ts} AS t, {keyed} AS k FROM {table} WHERE {where}
                ORDER BY t, k, id LIMIT ?)
            SELECT {render}, _t::VARCHAR, _k, _id FROM {picked} ORDER BY _t, _k, _id""",
        [*params, int(limit)],
    )
    last = list(rows[-1][1:]) if len(rows) == limit else None
    return {"items": [r[0] for r in rows], "after": last}


@operation("snowplow.bad_rows.export")
def export_bad_rows(
    ctx: Context,
    project_id: int,
    start: str | None = None,
    end: str | None = None,
    kind: str | None = None,
    after: list[Any] | None = None,
    limit: int = 10_000,
) -> dict[str, Any]:
    """One page of bad rows (each its JSON document), oldest first; see :func:`_page`."""
    where, params = _window(start, end)
    if kind and kind not in KINDS:
        raise InvalidInput(f"--kind {kind!r}: use one of {', '.join(KINDS)}", field="kind")
    if kind:
        where += " AND kind = ?"
        params.append(kind)
    return _page(
        ctx, "bad_rows", "payload::VARCHAR", ("received_at", "kind"),
        "project_id = ?" + where, [project_id, *params], after, limit,
    )  # fmt: skip


@operation("snowplow.export")
def export_enriched(
    ctx: Context,
    project_id: int,
    start: str | None = None,
    end: str | None = None,
    after: list[Any] | None = None,
    limit: int = 10_000,
    shape: str = "tsv",
) -> dict[str, Any]:
    """One page of stored enriched events, in collector time order: TSV lines, or Analytics
    SDK JSON objects (as JSON text); see :func:`_page`."""
    from driftline.snowplow.export import TSV_SQL
    from driftline.snowplow.sdk_json import SDK_JSON_PREPARE, SDK_JSON_SQL

    where, params = _window(start, end, "collector_tstamp")
    render, prepare = TSV_SQL, ()
    if shape == "json":  # each object as its JSON text, rendered by the store
        render, prepare = SDK_JSON_SQL, SDK_JSON_PREPARE
    return _page(
        ctx, "snowplow_events", render, ("collector_tstamp", "event_id"),
        "project_id = ?" + where, [project_id, *params], after, limit, prepare,
    )  # fmt: skip
