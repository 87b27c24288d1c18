"""Report operations: the CLI's ``driftline query ...`` runs these in-process or inside the
running server, and gets the same JSON either way."""

from __future__ import annotations

from typing import Any

from driftline.query.events import EventListSpec, list_events, unknown_events
from driftline.query.funnels import Exclusion, FunnelSpec, Step, parse_exclusion
from driftline.query.profiles import ProfileQuery, query_profiles
from driftline.query.retention import RetentionSpec, retention
from driftline.query.segmentation import SegmentationSpec, segmentation
from driftline.server.ops import Context, checked_spec, operation


@operation("query.segmentation")
def segmentation_op(ctx: Context, project: str | None = None, **spec: Any) -> dict[str, Any]:
    parsed = checked_spec(SegmentationSpec, spec)
    return segmentation(ctx.store, ctx.store.get_project(project), parsed)


@operation("query.funnel")
def funnel_op(
    ctx: Context,
    project: str | None = None,
    steps: list[Any] | None = None,
    exclude: list[str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    from driftline.query.funnels import funnel

    parsed = funnel_spec(steps or [], exclude or [], spec)
    return funnel(ctx.store, ctx.store.get_project(project), parsed)


def funnel_spec(steps: list[Any], exclude: list[Any], spec: dict[str, Any]) -> FunnelSpec:
    """A :class:`FunnelSpec` from JSON: steps as names or ``{"event", "where"}`` objects,
    exclusions as ``NAME[@K-M]`` or ``{"event", "after", "before"}``."""
    from driftline.errors import InvalidInput

    parsed_steps = []
    for i, step in enumerate(steps, 1):
        if isinstance(step, str):
            parsed_steps.append(Step(step))
        elif isinstance(step, dict) and isinstance(step.get("event"), str):
            where = step.get("where") or step.get("selector")
            parsed_steps.append(Step(step["event"], where if isinstance(where, str) else None))
        else:
            raise InvalidInput(
                f'step {i} must be an event name or {{"event": NAME, "where": EXPR}}',
                field="steps",
            )
    exclusions = []
    for x in exclude:
        if isinstance(x, str):
            exclusions.append(parse_exclusion(x))
        elif isinstance(x, dict) and isinstance(x.get("event"), str):
            try:
                after = int(x.get("after", x.get("from_step", 1)))
                before = x.get("before", x.get("to_step"))
                exclusions.append(Exclusion(x["event"], after, int(before) if before else None))
            except (TypeError, ValueError):
                raise InvalidInput(
                    "exclusion steps must be whole numbers", field="exclude"
                ) from None
        else:
            raise InvalidInput('an exclusion is a name or {"event": NAME}', field="exclude")
    values = {**spec, "steps": tuple(parsed_steps), "exclusions": tuple(exclusions)}
    return checked_spec(FunnelSpec, values)


@operation("query.retention")
def retention_op(ctx: Context, project: str | None = None, **spec: Any) -> dict[str, Any]:
    parsed = checked_spec(RetentionSpec, spec)
    return retention(ctx.store, ctx.store.get_project(project), parsed)


@operation("query.profiles")
def profiles_op(
    ctx: Context,
    project: str | None = None,
    distinct_ids: list[str] | None = None,
    output_properties: list[str] | None = None,
    **query: Any,
) -> dict[str, Any]:
    spec = checked_spec(
        ProfileQuery,
        {
            **query,
            "distinct_ids": tuple(distinct_ids or ()),
            "output_properties": tuple(output_properties)
            if output_properties is not None
            else None,
        },
    )
    return query_profiles(ctx.store, ctx.store.get_project(project), spec)


@operation("query.events")
def events_op(
    ctx: Context,
    project: str | None = None,
    from_date: str | None = None,
    to_date: str | None = None,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    spec = EventListSpec(from_date=from_date, to_date=to_date, limit=limit)
    return list_events(ctx.store, ctx.store.get_project(project), spec)


@operation("query.unknown_events")
def unknown_events_op(
    ctx: Context, project: str | None = None, events: list[str] | None = None
) -> dict[str, Any]:
    """Which of ``events`` the project never saw (for the CLI's warning after a report)."""
    target = ctx.store.get_project(project)
    return {"project": target.name, "unknown": unknown_events(ctx.store, target, events or [])}
