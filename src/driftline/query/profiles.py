"""Profiles query: list user profiles (or group profiles), filtered and paged.

Mixpanel's ``/engage``: ``where`` (the filter language, over profile properties: ``plan``,
``user.plan`` and ``properties["plan"]`` all name the profile's ``plan``; ``$distinct_id`` the
profile's id), ``distinct_id`` / ``distinct_ids``, ``data_group_id`` (group profiles of that
group key instead of users), ``output_properties`` and ``page`` / ``page_size``. Profiles come
ordered by id, so pages are stable. Response::

    {"page": 0, "page_size": 1000, "session_id": "...", "status": "ok", "total": 2,
     "results": [{"$distinct_id": "u1", "$properties": {...}}, ...]}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from driftline.errors import InvalidInput
from driftline.model import Project
from driftline.query.filters import compile_filter, parse_filter
from driftline.query.properties import PropertyRef, PropertyResolver, json_text
from driftline.query.source import fetch_rows
from driftline.query.sqlbuild import Params, and_all, render, string_list
from driftline.query.timeline import Timeline

MAX_PAGE_SIZE = 10_000
#: The last page: its row offset (page * page_size) stays within a 64-bit integer
MAX_PAGE = 10**12


@dataclass(frozen=True)
class ProfileQuery:
    where: str | None = None
    distinct_ids: tuple[str, ...] = ()
    group_key: str | None = None
    output_properties: tuple[str, ...] | None = None
    page: int = 0
    page_size: int = 1000

    def check(self) -> None:
        if not 0 <= self.page <= MAX_PAGE:
            raise InvalidInput(f"page must be between 0 and {MAX_PAGE}", field="page")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(
                f"page_size must be between 1 and {MAX_PAGE_SIZE}", field="page_size"
            )


class _ProfileResolver(PropertyResolver):
    """Every property name refers to the profile row ``p``."""

    id_column = "distinct_id"

    def text(self, ref: PropertyRef) -> exp.Expression:
        if ref.kind in ("group", "lookup"):
            raise InvalidInput(
                f"{ref}: profile filters use the profile's own properties (e.g. plan or user.plan)",
                field="where",
            )
        if ref.name in ("$distinct_id", "distinct_id", "$group_id"):
            return exp.column(self.id_column, table="p")
        return json_text(exp.column("properties", table="p"), ref.name)

    def check(self, ref: PropertyRef) -> PropertyRef:
        return ref


def query_profiles(store: Any, project: Project, query: ProfileQuery) -> dict[str, Any]:
    query.check()
    params = Params()
    group = query.group_key is not None
    resolver = _ProfileResolver(project.id, params, {}, event_alias="p")
    if group:
        resolver.id_column = "group_id"
    timeline = Timeline.of(project.timezone, "1970-01-01", "1970-01-01")
    conditions = [exp.column("project_id", table="p").eq(params.bind(project.id))]
    if group:
        conditions.append(exp.column("group_key", table="p").eq(params.bind(query.group_key)))
    id_col = exp.column("group_id" if group else "distinct_id", table="p")
    if query.distinct_ids:
        conditions.append(
            exp.func("list_contains", string_list(list(query.distinct_ids), params), id_col)
        )
    if query.where:
        conditions.append(compile_filter(parse_filter(query.where, "where"), resolver, timeline))
    table = exp.to_table("groups" if group else "profiles").as_("p")
    total_sql = exp.select("count(*) AS n").from_(table).where(and_all(conditions))
    total = fetch_rows(store, render(total_sql), params.values)[0]["n"]
    page_sql = (
        exp.select(id_col.as_("id"), exp.column("properties", table="p").as_("properties"))
        .from_(table.copy())
        .where(and_all(conditions))
        .order_by(id_col.copy())
        .limit(exp.Literal.number(query.page_size))
        .offset(exp.Literal.number(query.page * query.page_size))
    )
    rows = fetch_rows(store, render(page_sql), params.values)
    id_key = "$group_id" if group else "$distinct_id"
    results = []
    for row in rows:
        props = json.loads(row["properties"]) if row["properties"] else {}
        if query.output_properties is not None:
            props = {k: props[k] for k in query.output_properties if k in props}
        results.append({id_key: row["id"], "$properties": props})
    session = hashlib.sha256(
        json.dumps([project.id, query.where, query.distinct_ids, query.group_key]).encode()
    ).hexdigest()[:16]
    return {
        "page": query.page,
        "page_size": query.page_size,
        "session_id": session,
        "status": "ok",
        "total": total,
        "results": results,
    }
