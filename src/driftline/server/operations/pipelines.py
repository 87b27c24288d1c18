"""Operations behind `driftline pipeline ...` and ``/api/v1/pipelines`` (JSON in, JSON out)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from driftline.errors import InvalidInput
from driftline.model import FIRST_DAY, LAST_DAY
from driftline.pipelines.engine import PipelineEngine
from driftline.pipelines.history import history
from driftline.pipelines.spec import PipelineSpec, parse_spec
from driftline.server.ops import Context, operation


def _engine(ctx: Context) -> PipelineEngine:
    return PipelineEngine(ctx.store, ctx.writer)


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def parse_timestamp(value: str | None, field: str) -> dt.datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"--{field} {value!r} is not a timestamp; use ISO 8601, e.g. 2026-11-22T10:00:00Z",
            field=field,
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def parse_day(value: str | None, field: str) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{field} {value!r} is not a date; use YYYY-MM-DD", field=field
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"{field} {day} is not between {FIRST_DAY} and {LAST_DAY}", field=field)
    return day


@operation("pipeline.add")
def add(
    ctx: Context,
    name: str,
    destination: str,
    data: str = "events",
    frequency: str = "daily",
    sync: bool = True,
    from_date: str | None = None,
    project: str | None = None,
    check: bool = True,
) -> dict[str, Any]:
    spec = parse_spec(name, destination, data, frequency, sync, from_date)
    return jsonable(_engine(ctx).add(ctx.store.get_project(project), spec, check=check))


@operation("pipeline.list")
def list_(ctx: Context, project: str | None = None) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = jsonable(_engine(ctx).list(ctx.store.get_project(project)))
    return result


@operation("pipeline.delete")
def delete(ctx: Context, name: str, project: str | None = None) -> dict[str, Any]:
    return _engine(ctx).delete(ctx.store.get_project(project), name)


@operation("pipeline.run")
def run(
    ctx: Context,
    name: str,
    until: str | None = None,
    max_steps: int | None = None,
    backfill_only: bool = False,
    project: str | None = None,
) -> dict[str, Any]:
    target = ctx.store.get_project(project)
    result = _engine(ctx).run(
        target,
        name,
        until=parse_timestamp(until, "until"),
        max_steps=max_steps,
        backfill_only=backfill_only,
    )
    return jsonable(result)


@operation("pipeline.backfill")
def backfill(
    ctx: Context,
    name: str,
    from_date: str,
    to_date: str | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    start = parse_day(from_date, "from_date")
    if start is None:
        raise InvalidInput("--from is required: the first event day to export", field="from_date")
    target = ctx.store.get_project(project)
    return jsonable(_engine(ctx).backfill(target, name, start, parse_day(to_date, "to_date")))


@operation("pipeline.progress")
def progress(ctx: Context, name: str, project: str | None = None) -> dict[str, Any]:
    return _engine(ctx).progress(ctx.store.get_project(project), name)


@operation("pipeline.history")
def history_(ctx: Context, name: str, project: str | None = None) -> list[dict[str, Any]]:
    target = ctx.store.get_project(project)
    result: list[dict[str, Any]] = jsonable(
        history(_engine(ctx).catalog, target.id, target.timezone, name)
    )
    return result


#: keys of a ``[pipelines.NAME]`` table: `pipeline add`'s options
APPLY_KEYS = {"destination": str, "data": str, "frequency": str, "sync": bool, "from": str}


def declared_spec(name: str, body: Any) -> PipelineSpec:
    """A ``[pipelines.NAME]`` table as a spec; each error names the table and the key."""
    where = f"pipelines.{name}"
    if not isinstance(body, dict):
        raise InvalidInput(f"[{where}] must be a table of options", field=where)
    for key, value in body.items():
        kind = APPLY_KEYS.get(key)
        if kind is None:
            raise InvalidInput(
                f"[{where}] {key}: is not a pipeline option (options: {', '.join(APPLY_KEYS)})",
                field=f"{where}.{key}",
            )
        if key == "from" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            body = {**body, key: value.isoformat()}
        elif not isinstance(value, kind):
            raise InvalidInput(
                f"[{where}] {key}: must be a {'boolean' if kind is bool else 'string'}",
                field=f"{where}.{key}",
            )
    if "destination" not in body:
        raise InvalidInput(f'[{where}] needs destination = "URL"', field=f"{where}.destination")
    try:
        return parse_spec(
            name,
            body["destination"],
            body.get("data", "events"),
            body.get("frequency", "daily"),
            body.get("sync", True),
            body.get("from"),
        )
    except InvalidInput as exc:
        raise InvalidInput(f"[{where}] {exc.message}", field=f"{where}.{exc.field}") from None


@operation("apply.pipelines")
def apply_pipelines(
    ctx: Context, items: dict[str, Any], project: str | None = None, check: bool = True
) -> list[dict[str, Any]]:
    """``[pipelines.NAME]`` tables of a ``driftline apply`` file (keys: `pipeline add`'s
    options). Every table is validated before any pipeline changes; pipelines the file does
    not name are left alone."""
    specs = [declared_spec(name, body) for name, body in items.items()]
    target = ctx.store.get_project(project)
    engine = _engine(ctx)
    return [jsonable(engine.declare(target, spec, check=check)) for spec in specs]
