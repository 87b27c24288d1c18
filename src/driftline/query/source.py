"""The event relation every report starts from.

``events`` of one project in a UTC time range, restricted to some event names, with the
canonical distinct id (``uid``: the user a device was merged into, retroactively), a
filter, and any property values a report asks for, joined to profiles, groups and lookup
tables as the property references need. Each event appears once: the store deduplicates on
write and deletes what a Mirror sync removes, so there is nothing to collapse here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from driftline.model import Project
from driftline.query.filters import Node, compile_filter
from driftline.query.properties import PropertyRef, PropertyResolver
from driftline.query.sqlbuild import Params, and_all, string_list
from driftline.query.timeline import Timeline


def lookup_mappings(store: Any, project_id: int) -> dict[str, str]:
    """Event property → lookup table id, for the project's mapped lookup tables."""
    rows = store.query_rows(
        "SELECT property, id FROM lookup_tables WHERE project_id = ? AND property IS NOT NULL "
        "ORDER BY updated_at",
        [project_id],
    )
    return {str(prop): str(table_id) for prop, table_id in rows}


@dataclass
class EventSource:
    """Builds ``SELECT ... FROM events e [joins] WHERE ...`` for one report."""

    store: Any
    project: Project
    timeline: Timeline
    params: Params = field(default_factory=Params)
    resolver: PropertyResolver = field(init=False)

    def __post_init__(self) -> None:
        self.resolver = PropertyResolver(
            self.project.id, self.params, lookup_mappings(self.store, self.project.id)
        )

    def value(self, ref: PropertyRef) -> exp.Expression:
        """A property's text value, ``'undefined'`` when unset (as breakdowns show it)."""
        self.resolver.check(ref)
        return exp.func("coalesce", self.resolver.text(ref), exp.Literal.string("undefined"))

    def condition(self, node: Node | None) -> exp.Expression:
        if node is None:
            return exp.true()
        return compile_filter(node, self.resolver, self.timeline)

    def select(
        self,
        columns: dict[str, exp.Expression],
        *,
        events: list[str] | None,
        lo: dt.datetime,
        hi: dt.datetime,
        where: list[exp.Expression] | None = None,
    ) -> exp.Select:
        """The relation: ``columns`` (alias → expression) of the matching events."""
        e = self.resolver.col
        conditions = [
            e("project_id").eq(self.params.bind(self.project.id)),
            e("time") >= self.params.bind(lo),
            e("time") < self.params.bind(hi),
        ]
        if events is not None:
            if len(events) == 1:
                conditions.append(e("event").eq(self.params.bind(events[0])))
            else:
                conditions.append(
                    exp.func(
                        "list_contains", string_list(sorted(set(events)), self.params), e("event")
                    )
                )
        conditions.extend(where or [])
        select = exp.select(*[expr.as_(alias) for alias, expr in columns.items()]).from_(
            exp.to_table("events").as_("e")
        )
        select = self.resolver.apply_joins(select)
        return select.where(and_all(conditions), copy=False)

    @property
    def uid(self) -> exp.Expression:
        return self.resolver.uid

    def time(self) -> exp.Expression:
        return self.resolver.col("time")

    def event(self) -> exp.Expression:
        return self.resolver.col("event")


def fetch_rows(store: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a report query and return its (small, aggregated) result as dicts."""
    out: list[dict[str, Any]] = []
    for batch in store.stream(sql, params):
        out.extend(batch.to_pylist())
    return out
