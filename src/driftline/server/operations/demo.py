"""``demo.load``: generate the demo dataset into a project (``driftline demo``,
``driftline serve --demo``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from driftline.demo import DemoSpec, load_demo
from driftline.errors import InvalidInput
from driftline.server.ops import Context, operation


@operation("demo.load")
def load_demo_op(
    ctx: Context, project_id: int, events: int, seed: int, end_date: str
) -> dict[str, Any]:
    project = ctx.store.get_project(project_id)
    try:
        last_day = dt.date.fromisoformat(end_date)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"end_date {end_date!r} is not a date; use YYYY-MM-DD", field="end_date"
        ) from None
    for name, value in (("events", events), ("seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput(f"{name} must be a whole number, not {value!r}", field=name)
    spec = DemoSpec(events=events, seed=seed, last_day=last_day, project_id=project.id)
    return load_demo(ctx.writer, spec)
