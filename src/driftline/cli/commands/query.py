"""`driftline query segmentation|funnel|retention|profiles|events`.

After a report, an event name the project never saw (a typo, the wrong ``--project``) gets
a warning on stderr with the closest name it has; the report itself is printed unchanged."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import click
import typer

from driftline.cli.options import (
    DEFAULT_DATA_DIR,
    DataDirOption,
    FormatOption,
    OutputFormat,
    ProjectOption,
    check_day,
)
from driftline.cli.render import plural, render_rows, stderr
from driftline.cli.runtime import Runtime, Session
from driftline.errors import DriftlineError
from driftline.query.funnels import parse_exclusion

query_app = typer.Typer(
    help=(
        "Ask questions of the events: counts over time, funnels, retention, profiles. "
        "Dates are inclusive days in the project's timezone. Properties: `plan` (event), "
        "`user.plan` (user profile), `group.company_id.industry` (group profile), "
        "`sku.category` (a lookup table mapped to the event property `sku`). "
        'Filters: `--where \'plan = "pro" and user.country in ("US", "DE") and price > 10\'`.'
    ),
    no_args_is_help=True,
)

FromOption = Annotated[
    str,
    typer.Option("--from", callback=check_day, help="First day, YYYY-MM-DD (project timezone)."),
]
ToOption = Annotated[
    str, typer.Option("--to", callback=check_day, help="Last day (inclusive), YYYY-MM-DD.")
]
WhereOption = Annotated[
    str | None,
    typer.Option(
        "--where",
        "-w",
        help="Filter, e.g. 'plan = \"pro\" and price >= 10 and user.country is set'.",
    ),
]


def _run(data_dir: Any, op: str, *, named: Sequence[str | None] = (), **args: Any) -> Any:
    """Run one report operation, with a spinner on a terminal while it works. Then, in the
    same session and with one query, check the event names in ``named``: a warning for each
    one the project never saw goes to stderr once the command has printed its result."""
    with Runtime(data_dir).session() as session:
        if not stderr.is_terminal:
            result = session.op(op, **args)
        else:
            with stderr.status(f"running {op.split('.')[-1]}…"):
                result = session.op(op, **args)
        warnings = _unknown_event_warnings(session, args.get("project"), named)
    if warnings:
        click_ctx = click.get_current_context(silent=True)
        if click_ctx is None:
            _print_warnings(warnings)
        else:
            click_ctx.call_on_close(lambda: _print_warnings(warnings))
    return result


def _unknown_event_warnings(
    session: Session, project: str | None, named: Sequence[str | None]
) -> list[str]:
    names = [n for n in named if n]
    if not names:
        return []
    try:  # a hint only: a server without this check (an older one) still gives the report
        found = session.op("query.unknown_events", project=project, events=names)
    except DriftlineError:
        return []
    return [
        f"warning: no event named {u['event']!r} in project {found['project']!r}"
        + (f"; did you mean {u['suggestion']!r}?" if u.get("suggestion") else "")
        + " (driftline query events lists them)"
        for u in found["unknown"]
    ]


def _print_warnings(lines: list[str]) -> None:
    for line in lines:
        stderr.print(line, markup=False, highlight=False)


def _print_json(result: Any) -> None:
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")


@query_app.command("segmentation")
def segmentation_cmd(
    event: Annotated[str, typer.Option("--event", "-e", help="The event to count.")],
    from_date: FromOption,
    to_date: ToOption,
    unit: Annotated[
        str, typer.Option("--unit", help="Bucket: minute, hour, day, week (Monday) or month.")
    ] = "day",
    type_: Annotated[
        str,
        typer.Option(
            "--type",
            help="general (events), unique (users), average (events per user), or sum / mean of the numeric property --of.",
        ),
    ] = "general",
    on: Annotated[str | None, typer.Option("--on", help="Break down by this property.")] = None,
    of: Annotated[
        str | None,
        typer.Option("--of", help="The numeric property that --type sum or mean aggregates."),
    ] = None,
    where: WhereOption = None,
    limit: Annotated[
        int, typer.Option("--limit", help="Most segments shown (largest first).")
    ] = 60,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """How many times EVENT happened per unit of time, optionally broken down by a property.

    Example: `driftline query segmentation --event Purchase --from 2025-03-01 --to 2025-03-31
    --on sku.category`
    """
    result = _run(
        data_dir,
        "query.segmentation",
        named=[event],
        project=project,
        event=event,
        from_date=from_date,
        to_date=to_date,
        unit=unit,
        type=type_,
        on=on,
        of=of,
        where=where,
        limit=limit,
    )
    if fmt is OutputFormat.json:
        _print_json(result)
        return
    series = result["data"]["series"]
    values = result["data"]["values"]
    title = f"{event} ({type_}, by {unit})"
    if fmt is OutputFormat.table and len(values) > 8:  # too wide: one line per date and segment
        long = [
            {"date": d, "segment": seg, "value": vals[d]}
            for d in series
            for seg, vals in values.items()
            if vals.get(d)
        ]
        render_rows(long, fmt, columns=["date", "segment", "value"], title=title)
        return
    rows = [{"date": d, **{seg: vals.get(d, 0) for seg, vals in values.items()}} for d in series]
    render_rows(rows, fmt, columns=["date", *values], title=title)


@query_app.command("funnel")
def funnel_cmd(
    steps: Annotated[
        str, typer.Option("--steps", "-s", help="Step events in order, comma-separated.")
    ],
    from_date: FromOption,
    to_date: ToOption,
    window: Annotated[
        str,
        typer.Option(
            "--window", help="Conversion window from step 1: 7d, 12h, 30m, 2w (max 366d)."
        ),
    ] = "7d",
    order: Annotated[
        str, typer.Option("--order", help="specific (steps in order) or any (in any order).")
    ] = "specific",
    count: Annotated[
        str,
        typer.Option(
            "--count",
            help="uniques (each user enters once) or totals (users re-enter after exiting).",
        ),
    ] = "uniques",
    by: Annotated[
        str | None, typer.Option("--by", help="Break down by this property (of the step-1 event).")
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            help="An event that ends the funnel when done between steps; NAME or NAME@K-M (between steps K and M). Repeatable.",
        ),
    ] = None,
    hold: Annotated[
        str | None, typer.Option("--hold", help="Hold this property constant across the steps.")
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option("--unit", help="Also split by entry date: day, week or month."),
    ] = None,
    step_where: Annotated[
        list[str] | None,
        typer.Option(
            "--step-where",
            help="A filter on one step: N:EXPR, e.g. 3:'price > 100' for step 3. Repeatable.",
        ),
    ] = None,
    where: WhereOption = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Conversion through ordered steps within a window.

    Example: `driftline query funnel --steps "Sign Up,Invite Sent,Purchase" --from 2025-03-01
    --to 2025-03-31 --by user.plan --unit week`
    """
    step_list: list[Any] = [{"event": s.strip()} for s in steps.split(",") if s.strip()]
    for item in step_where or []:
        number, sep, expr = item.partition(":")
        if not sep or not number.strip().isdigit() or not 1 <= int(number) <= len(step_list):
            from driftline.errors import InvalidInput

            raise InvalidInput(
                f"--step-where {item!r}: write N:EXPR with N a step number from 1 to {len(step_list)}"
            )
        step_list[int(number) - 1]["where"] = expr
    result = _run(
        data_dir,
        "query.funnel",
        named=[s["event"] for s in step_list] + [parse_exclusion(x).event for x in exclude or []],
        project=project,
        steps=step_list,
        exclude=exclude or [],
        from_date=from_date,
        to_date=to_date,
        window=window,
        order=order,
        count=count,
        by=by,
        hold=hold,
        unit=unit,
        where=where,
    )
    if fmt is OutputFormat.json:
        _print_json(result)
        return
    rows: list[dict[str, Any]] = []
    groups: list[tuple[str | None, str | None, list[dict[str, Any]]]] = [
        (None, None, result["steps"])
    ]
    if by:
        groups += [(None, seg, s) for seg, s in result.get("segments", {}).items()]
    if unit:
        for date, cell in result["data"].items():
            if by:
                groups += [(date, seg, s) for seg, s in cell.items() if seg != "$overall"]
            else:
                groups.append((date, None, cell["steps"]))
    for date, seg, step_rows in groups:
        for i, step in enumerate(step_rows, 1):
            row: dict[str, Any] = {}
            if unit:
                row["date"] = date or "all"
            if by:
                row["segment"] = seg if seg is not None else "all"
            row.update(
                step=i,
                event=step["event"],
                count=step["count"],
                conversion=_pct(step["step_conv_ratio"], fmt),
                overall=_pct(step["overall_conv_ratio"], fmt),
                avg_time=_duration(step["avg_time"], fmt),
                median_time=_duration(step["median_time"], fmt),
            )
            rows.append(row)
    render_rows(rows, fmt, title=f"funnel {from_date} … {to_date} ({count}, window {window})")


@query_app.command("retention")
def retention_cmd(
    from_date: FromOption,
    to_date: ToOption,
    born_event: Annotated[
        str | None,
        typer.Option("--born-event", help="The event that puts a user in a cohort (birth)."),
    ] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="The event that counts as coming back.")
    ] = None,
    unit: Annotated[str, typer.Option("--unit", help="day, week or month.")] = "day",
    type_: Annotated[
        str,
        typer.Option(
            "--type", help="birth (first time did A) or compounded (recurring: did B in a bucket)."
        ),
    ] = "birth",
    intervals: Annotated[
        int | None,
        typer.Option(
            "--intervals", help="How many intervals to show (default: the range's units)."
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode", help="on (came back in that interval) or on-or-after (then or later)."
        ),
    ] = "on",
    on: Annotated[
        str | None,
        typer.Option("--on", help="Break cohorts down by this property (of the birth event)."),
    ] = None,
    where: WhereOption = None,
    born_where: Annotated[
        str | None, typer.Option("--born-where", help="Filter on the birth event.")
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Cohorts by when users first did --born-event; the share that did --event in each
    following interval.

    Example: `driftline query retention --born-event "Sign Up" --event "Log In" --from
    2025-01-06 --to 2025-03-30 --unit week --intervals 12 --on country`
    """
    from driftline.errors import InvalidInput

    if mode not in ("on", "on-or-after"):
        raise InvalidInput("--mode must be on or on-or-after")
    result = _run(
        data_dir,
        "query.retention",
        named=[born_event, event],
        project=project,
        born_event=born_event,
        event=event,
        from_date=from_date,
        to_date=to_date,
        unit=unit,
        type=type_,
        intervals=intervals,
        unbounded=mode == "on-or-after",
        on=on,
        where=where,
        born_where=born_where,
    )
    if fmt is OutputFormat.json:
        _print_json(result)
        return
    rows = []
    width = 0
    for date, cell in result.items():
        cells = cell.items() if on else [(None, cell)]
        for seg, c in cells:
            row: dict[str, Any] = {"cohort": date}
            if on:
                row["segment"] = seg
            row["users"] = c["first"]
            for i, (n, rate) in enumerate(zip(c["counts"], c["rates"], strict=True)):
                row[f"{unit} {i}"] = n if fmt is OutputFormat.csv else f"{rate * 100:.1f}%"
            width = max(width, len(c["counts"]))
            rows.append(row)
    columns = [
        "cohort",
        *(["segment"] if on else []),
        "users",
        *[f"{unit} {i}" for i in range(width)],
    ]
    title = f"retention by {unit} ({type_}, {mode}): share of each cohort's users"
    if fmt is OutputFormat.table:  # compact headers; counts are in --format csv / json
        rows = [
            {(k[len(unit) + 1 :] if k.startswith(f"{unit} ") else k): v for k, v in r.items()}
            for r in rows
        ]
        columns = [c[len(unit) + 1 :] if c.startswith(f"{unit} ") else c for c in columns]
    render_rows(rows, fmt, columns=columns, title=title)


@query_app.command("profiles")
def profiles_cmd(
    where: WhereOption = None,
    group_key: Annotated[
        str | None, typer.Option("--group-key", help="List group profiles of this key instead.")
    ] = None,
    distinct_id: Annotated[
        list[str] | None, typer.Option("--distinct-id", help="Only this profile. Repeatable.")
    ] = None,
    properties: Annotated[
        str | None, typer.Option("--properties", help="Comma-separated properties to show.")
    ] = None,
    page: Annotated[int, typer.Option("--page", help="Page number, from 0.")] = 0,
    page_size: Annotated[int, typer.Option("--page-size", help="Profiles per page.")] = 100,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """List user profiles (or group profiles) matching a filter, a page at a time.

    Example: `driftline query profiles --where 'plan = "business" and country = "DE"'`
    """
    wanted = [p.strip() for p in properties.split(",")] if properties else None
    result = _run(
        data_dir,
        "query.profiles",
        project=project,
        where=where,
        group_key=group_key,
        distinct_ids=distinct_id or [],
        output_properties=wanted,
        page=page,
        page_size=page_size,
    )
    if fmt is OutputFormat.json:
        _print_json(result)
        return
    id_key = "$group_id" if group_key else "$distinct_id"
    keys: list[str] = list(wanted or [])
    if wanted is None:
        for r in result["results"]:
            for k in r["$properties"]:
                if k not in keys and len(keys) < 12:
                    keys.append(k)
    rows = [
        {id_key: r[id_key], **{k: _cell(r["$properties"].get(k)) for k in keys}}
        for r in result["results"]
    ]
    shown = len(rows)
    render_rows(
        rows,
        fmt,
        columns=[id_key, *keys],
        title=f"{shown:,} of {plural(result['total'], 'profile')} (page {page})",
    )


@query_app.command("events")
def events_cmd(
    from_date: Annotated[
        str | None,
        typer.Option(
            "--from", callback=check_day, help="First day, YYYY-MM-DD (default: all time)."
        ),
    ] = None,
    to_date: Annotated[
        str | None,
        typer.Option("--to", callback=check_day, help="Last day (inclusive), YYYY-MM-DD."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="Most event names shown (most frequent first).")
    ] = 10_000,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """The project's event names, most frequent first, with how many events and users each
    has and when it was first and last seen (UTC): the names the other queries take.

    Example: `driftline query events --from 2025-03-01 --to 2025-03-31 --format csv`
    """
    from driftline.errors import InvalidInput

    if (from_date is None) != (to_date is None):
        raise InvalidInput("give both --from and --to, or neither for all time")
    rows = _run(
        data_dir, "query.events", project=project, from_date=from_date, to_date=to_date, limit=limit
    )
    span = f"{from_date} … {to_date}" if from_date else "all time"
    if fmt is OutputFormat.table:  # 2025-03-01 12:00:00 (UTC) rather than 2025-03-01T12:00:00.000Z
        rows = [{**r, **{k: _short_time(r[k]) for k in ("first_seen", "last_seen")}} for r in rows]
    render_rows(
        rows,
        fmt,
        columns=["event", "count", "users", "first_seen", "last_seen"],
        title=f"{len(rows)} event names ({span}; times in UTC)",
    )


def _short_time(iso: str | None) -> str | None:
    return iso[:19].replace("T", " ") if iso else iso


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def _pct(ratio: float | None, fmt: OutputFormat) -> Any:
    if ratio is None:
        return None
    return ratio if fmt is OutputFormat.csv else f"{ratio * 100:.1f}%"


def _duration(seconds: float | None, fmt: OutputFormat) -> Any:
    if seconds is None or fmt is OutputFormat.csv:
        return seconds
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def register(app: typer.Typer) -> None:
    app.add_typer(query_app, name="query")
