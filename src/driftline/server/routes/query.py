"""Report API in Mixpanel's shape: ``/api/query/segmentation``, ``/funnels``, ``/retention``
and ``/engage``.

Parameters are Mixpanel's (query string, or a form body on POST); authentication is the
project secret (HTTP Basic) or a service account with ``project_id``, and a request only ever
sees its own project's data. Bad parameters answer 400 with a JSON body naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from driftline.errors import InvalidInput
from driftline.model import Project
from driftline.query.events import event_names
from driftline.query.funnels import FunnelSpec
from driftline.query.profiles import ProfileQuery, query_profiles
from driftline.query.retention import RetentionSpec, retention
from driftline.query.segmentation import SegmentationSpec, segmentation
from driftline.server.auth import project_from_secret, state_of
from driftline.server.operations.query import funnel_spec

router = APIRouter(tags=["query"])
_LENGTH_UNITS = {"second": "s", "minute": "m", "hour": "h", "day": "d", "week": "w"}


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    if request.method == "POST":
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            try:
                body = json.loads(await request.body() or b"{}")
            except json.JSONDecodeError:
                raise InvalidInput("body is not valid JSON") from None
            if not isinstance(body, dict):
                raise InvalidInput("body must be a JSON object of parameters")
            for key, value in body.items():
                params[key] = value if isinstance(value, str) else json.dumps(value)
        else:
            form = await request.form()
            for key, value in form.items():
                if isinstance(value, str):
                    params[key] = value
    return params


def _required(params: dict[str, str], name: str, hint: str) -> str:
    value = params.get(name)
    if value is None or not str(value).strip():
        raise InvalidInput(f"{name} is required ({hint})", field=name)
    return str(value)


def _int(params: dict[str, str], name: str, default: int | None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number", field=name) from None


def _count(params: dict[str, str], name: str, default: int) -> int:
    value = _int(params, name, default)
    return default if value is None else value


def _bool(params: dict[str, str], name: str) -> bool:
    return str(params.get(name, "false")).lower() in ("1", "true", "yes")


def _json_list(params: dict[str, str], name: str) -> list[Any] | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidInput(f"{name} must be a JSON array", field=name) from None
    if not isinstance(value, list):
        raise InvalidInput(f"{name} must be a JSON array", field=name)
    return value


def _expression(params: dict[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value and value.strip() else None


async def _run(
    request: Request,
    fn: Callable[[Project, dict[str, str]], Any],
    names: dict[str, str] | None = None,
) -> Any:
    """``fn(project, params)`` in a worker thread; ``names`` maps the spec fields a route
    fills from differently named parameters (``of`` from ``on``) back to those names in
    errors, so that a message names the parameter the caller sent."""
    project = project_from_secret(request)
    params = await _params(request)
    try:
        return await run_in_threadpool(fn, project, params)
    except InvalidInput as exc:
        sent = (names or {}).get(exc.field or "")
        if sent is None:
            raise
        message = exc.message.removeprefix(f"{exc.field}: ")
        message = message if message.startswith(sent) else f"{sent}: {message}"
        raise InvalidInput(message, field=sent) from None


@router.get("/api/query/segmentation")
@router.post("/api/query/segmentation")
async def segmentation_route(request: Request) -> Response:
    """Count an event per unit of time, optionally broken down by a property (``on``)."""
    store = state_of(request).store

    def run(project: Project, p: dict[str, str]) -> Any:
        spec = SegmentationSpec(
            event=_required(p, "event", "the event to count"),
            from_date=_required(p, "from_date", "YYYY-MM-DD"),
            to_date=_required(p, "to_date", "YYYY-MM-DD"),
            unit=p.get("unit") or "day",
            type=p.get("type") or "general",
            on=_expression(p, "on"),
            where=_expression(p, "where"),
            limit=_count(p, "limit", 60),
        )
        return segmentation(store, project, spec), p.get("format")

    result, fmt = await _run(request, run)
    if fmt == "csv":
        return PlainTextResponse(_segmentation_csv(result), media_type="text/csv")
    return JSONResponse(result)


@router.get("/api/query/segmentation/sum")
@router.post("/api/query/segmentation/sum")
async def segmentation_sum_route(request: Request) -> Response:
    """The sum of a numeric expression (``on``) over an event, per unit of time."""
    return await _numeric(request, "sum")


@router.get("/api/query/segmentation/average")
@router.post("/api/query/segmentation/average")
async def segmentation_average_route(request: Request) -> Response:
    """The average of a numeric expression (``on``) over an event, per unit of time."""
    return await _numeric(request, "mean")


async def _numeric(request: Request, kind: str) -> Response:
    import datetime as dt

    store = state_of(request).store

    def run(project: Project, p: dict[str, str]) -> Any:
        event = _required(p, "event", "the event whose property is aggregated")
        spec = SegmentationSpec(
            event=event,
            from_date=_required(p, "from_date", "YYYY-MM-DD"),
            to_date=_required(p, "to_date", "YYYY-MM-DD"),
            unit=p.get("unit") or "day",
            type=kind,
            of=_required(p, "on", 'the numeric property, e.g. properties["amount"]'),
            where=_expression(p, "where"),
        )
        values = segmentation(store, project, spec)["data"]["values"].get(event, {})
        computed = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
        return {"status": "ok", "computed_at": computed, "results": values}

    return JSONResponse(await _run(request, run, {"of": "on"}))


def _segmentation_csv(result: dict[str, Any]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    series = result["data"]["series"]
    writer.writerow(["segment", *series])
    for segment, values in result["data"]["values"].items():
        writer.writerow([segment, *[values.get(d, 0) for d in series]])
    return out.getvalue()


@router.get("/api/query/funnels")
@router.post("/api/query/funnels")
async def funnels_route(request: Request) -> Response:
    """An ad hoc funnel: ``events`` is a JSON array of step names or
    ``{"event": NAME, "where": EXPR}`` objects."""
    from driftline.query.funnels import funnel

    store = state_of(request).store

    def run(project: Project, p: dict[str, str]) -> Any:
        if p.get("funnel_id") and not p.get("events"):
            raise InvalidInput(
                "saved funnels are not stored by driftline; pass the steps as events=[...]",
                field="funnel_id",
            )
        steps = _json_list(p, "events")
        if steps is None and p.get("steps"):
            steps = [s.strip() for s in p["steps"].split(",") if s.strip()]
        if not steps:
            raise InvalidInput(
                'events is required: a JSON array of steps, e.g. ["Sign Up", "Purchase"]',
                field="events",
            )
        window = p.get("window")
        if window is None and p.get("length"):
            length_unit = p.get("length_unit") or "day"
            if length_unit not in _LENGTH_UNITS:
                raise InvalidInput(
                    "length_unit must be day, hour, minute or second", field="length_unit"
                )
            window = f"{_int(p, 'length', 7)}{_LENGTH_UNITS[length_unit]}"
        spec: dict[str, Any] = {
            "from_date": _required(p, "from_date", "YYYY-MM-DD"),
            "to_date": _required(p, "to_date", "YYYY-MM-DD"),
            "window": window or "7d",
            "order": p.get("order") or "specific",
            "count": p.get("count") or p.get("funnel_count") or "uniques",
            "hold": _expression(p, "hold"),
            "by": _expression(p, "on"),
            "where": _expression(p, "where"),
            "unit": p.get("unit") or "day",
            "limit": _count(p, "limit", 255),
        }
        parsed: FunnelSpec = funnel_spec(steps, _json_list(p, "exclude") or [], spec)
        return funnel(store, project, parsed)

    return JSONResponse(await _run(request, run, {"by": "on"}))


@router.get("/api/query/retention")
@router.post("/api/query/retention")
async def retention_route(request: Request) -> Response:
    """Cohorts of users by when they first did ``born_event`` (or, ``compounded``, did
    ``event``), and how many did ``event`` in each following interval."""
    store = state_of(request).store

    def run(project: Project, p: dict[str, str]) -> Any:
        interval = _int(p, "interval", 1)
        if interval != 1:
            raise InvalidInput(
                "interval must be 1 (choose the interval length with unit=day|week|month)",
                field="interval",
            )
        spec = RetentionSpec(
            born_event=_expression(p, "born_event"),
            event=_expression(p, "event"),
            from_date=_required(p, "from_date", "YYYY-MM-DD"),
            to_date=_required(p, "to_date", "YYYY-MM-DD"),
            unit=p.get("unit") or "day",
            type=p.get("retention_type") or "birth",
            intervals=_int(p, "interval_count", None),
            unbounded=_bool(p, "unbounded_retention"),
            born_where=_expression(p, "born_where"),
            where=_expression(p, "where"),
            on=_expression(p, "on"),
            limit=_count(p, "limit", 60),
        )
        return retention(store, project, spec)

    return JSONResponse(await _run(request, run))


@router.get("/api/query/engage")
@router.post("/api/query/engage")
async def engage_route(request: Request) -> Response:
    """User profiles (or, with ``data_group_id``, group profiles), filtered and paged."""
    store = state_of(request).store

    def run(project: Project, p: dict[str, str]) -> Any:
        ids = _json_list(p, "distinct_ids") or []
        if p.get("distinct_id"):
            ids.append(p["distinct_id"])
        output = _json_list(p, "output_properties")
        if not all(isinstance(v, str) for v in [*ids, *(output or [])]):
            raise InvalidInput("distinct_ids and output_properties must hold strings")
        query = ProfileQuery(
            where=_expression(p, "where"),
            distinct_ids=tuple(ids),
            group_key=_expression(p, "data_group_id"),
            output_properties=tuple(output) if output is not None else None,
            page=_count(p, "page", 0),
            page_size=_count(p, "page_size", 1000),
        )
        return query_profiles(store, project, query)

    return JSONResponse(await _run(request, run))


@router.get("/api/query/funnels/list")
async def funnels_list_route(request: Request) -> Response:
    """Mixpanel's list of saved funnels: driftline keeps none (funnels are ad hoc)."""
    project_from_secret(request)
    return JSONResponse([])


@router.get("/api/query/events/names")
@router.get("/api/2.0/events/names")
async def event_names_route(request: Request) -> Response:
    """The project's event names, most frequent first (Mixpanel's ``/events/names``; the
    legacy ``/api/2.0`` path too): a JSON array of names, at most ``limit`` (default 255)."""
    store = state_of(request).store

    def run(project: Project, p: dict[str, str]) -> Any:
        return event_names(store, project, _count(p, "limit", 255))

    return JSONResponse(await _run(request, run))
