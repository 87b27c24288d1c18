"""What events a project has: names with their counts, users and last-seen time (the CLI's
``driftline query events``, the web UI's event browser, Mixpanel's ``/events/names``), and
which of the names a report asks for were never seen, with the closest known name."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from driftline.errors import InvalidInput
from driftline.model import Project
from driftline.query.timeline import Timeline

MAX_LIMIT = 10_000


@dataclass(frozen=True)
class EventListSpec:
    """All of the project's events, or those of an inclusive date range (both ends or none)."""

    from_date: str | None = None
    to_date: str | None = None
    limit: int = MAX_LIMIT

    def check(self) -> None:
        if (self.from_date is None) != (self.to_date is None):
            given, missing = (
                ("from_date", "to_date") if self.to_date is None else ("to_date", "from_date")
            )
            raise InvalidInput(
                f"{missing} is required with {given} (give both, or neither for all time)",
                field=missing,
            )
        _check_limit(self.limit)


def _check_limit(limit: int) -> None:
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")


def list_events(store: Any, project: Project, spec: EventListSpec) -> list[dict[str, Any]]:
    """One row per event name, most frequent first: ``event, count, users`` (distinct users,
    devices merged into their user as in reports) and ``first_seen, last_seen`` (ISO 8601,
    UTC), over the date range if the spec has one."""
    spec.check()
    where, params = "project_id = ?", [project.id]
    if spec.from_date is not None and spec.to_date is not None:
        timeline = Timeline.of(project.timezone, spec.from_date, spec.to_date)
        where += " AND time >= ? AND time < ?"
        params += [timeline.lo, timeline.hi]
    rows = store.query_rows(
        f"""SELECT event, count(*) AS n, count(DISTINCT resolved_distinct_id), min(time), max(time)
            FROM events_resolved WHERE {where}
            GROUP BY event ORDER BY n DESC, event LIMIT ?""",
        [*params, int(spec.limit)],
    )
    return [
        {"event": r[0], "count": r[1], "users": r[2], "first_seen": _iso(r[3]),
         "last_seen": _iso(r[4])}
        for r in rows
    ]  # fmt: skip


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") + "Z" if value is not None else None


def event_names(store: Any, project: Project, limit: int = 255) -> list[str]:
    """The project's event names, most frequent first (Mixpanel's ``/events/names``)."""
    _check_limit(limit)
    rows = store.query_rows(
        "SELECT event FROM events WHERE project_id = ? GROUP BY event "
        "ORDER BY count(*) DESC, event LIMIT ?",
        [project.id, int(limit)],
    )
    return [r[0] for r in rows]


def unknown_events(store: Any, project: Project, names: Iterable[str]) -> list[dict[str, Any]]:
    """The ``names`` no event of the project ever had, each with the closest name it does
    have (``suggestion``, None when nothing is close). One query, for all the names."""
    wanted = list(dict.fromkeys(n for n in names if n))
    if not wanted:
        return []
    rows = store.query_rows(
        "SELECT event FROM events WHERE project_id = ? GROUP BY event", [project.id]
    )
    known = {r[0] for r in rows}
    by_folded = {k.casefold(): k for k in sorted(known)}
    missing = []
    for name in wanted:
        if name in known:
            continue
        suggestion = by_folded.get(name.casefold())  # same letters, other case: the best guess
        if suggestion is None:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            suggestion = close[0] if close else None
        missing.append({"event": name, "suggestion": suggestion})
    return missing
