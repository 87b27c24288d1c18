"""`driftline pipeline add|run|backfill|history|list|delete`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from driftline.cli.options import (
    DEFAULT_DATA_DIR,
    DataDirOption,
    FormatOption,
    OutputFormat,
    ProjectOption,
    check_day,
)
from driftline.cli.render import plural, render_rows, stderr, stdout
from driftline.cli.runtime import Runtime

pipeline_app = typer.Typer(
    help=(
        "Export events, people and identity mappings continuously to a bucket (gzip NDJSON "
        "in Mixpanel's layout) or a warehouse, exactly once, late events included."
    ),
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Pipeline name (unique in the project).")]

HISTORY_COLUMNS = [
    "kind",
    "window_start",
    "window_end",
    "status",
    "events_in_store",
    "events_exported",
    "files",
    "bytes",
    "attempts",
    "error",
]


@pipeline_app.command("add")
def add(
    name: NameArg,
    destination: Annotated[
        str,
        typer.Option(
            "--destination",
            "-d",
            help=(
                "Where to export: file:///dir, s3://bucket/prefix, gs://bucket/prefix, "
                "az://container/prefix (endpoints and keys from the SDK's environment variables "
                "or ?endpoint_url=...), postgresql://..., redshift://..., duckdb:///file.duckdb, "
                "snowflake://..., bigquery://project/dataset. Use ${ENV} for secrets."
            ),
        ),
    ],
    data: Annotated[
        str, typer.Option("--data", help="What to export: events, people or identity.")
    ] = "events",
    frequency: Annotated[
        str,
        typer.Option(
            "--frequency",
            help="hourly (UTC hours) or daily (days in the project's timezone): how often runs "
            "happen and how event files are partitioned.",
        ),
    ] = "daily",
    no_sync: Annotated[
        bool,
        typer.Option(
            "--no-sync",
            help="Leave out late events (committed more than 2 hours after their partition "
            "closed). By default late events land in their partition as additional files.",
        ),
    ] = False,
    from_date: Annotated[
        str | None,
        typer.Option(
            "--from",
            callback=check_day,
            help="First event day (YYYY-MM-DD, project timezone) of the history to export; "
            "default: all of it.",
        ),
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Declare a pipeline. The destination is checked first; history is backfilled by the
    first runs, then every window is exported shortly after it closes (under `driftline serve`)
    or when you call `driftline pipeline run`."""
    with Runtime(data_dir).session() as session:
        result = session.op(
            "pipeline.add",
            name=name,
            destination=destination,
            data=data,
            frequency=frequency,
            sync=not no_sync,
            from_date=from_date,
            project=project,
        )
    if fmt is OutputFormat.table:
        stdout.print(
            f"added pipeline {result['name']} → {result['destination']} ({result['data']}, {result['frequency']})"
        )
        stdout.print(
            "next: `driftline pipeline run "
            + result["name"]
            + "` or let `driftline serve` schedule it"
        )
    else:
        render_rows([result], fmt)


@pipeline_app.command("list")
def list_(
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """List the project's pipelines (destination credentials are never shown)."""
    with Runtime(data_dir).session() as session:
        rows = session.op("pipeline.list", project=project)
    render_rows(
        rows,
        fmt,
        columns=[
            "name",
            "destination",
            "data",
            "frequency",
            "sync",
            "from",
            "watermark",
            "backfill",
            "in_flight",
        ],
    )


@pipeline_app.command("delete")
def delete(
    name: NameArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Delete a pipeline and its history. Files and tables already exported stay."""
    with Runtime(data_dir).session() as session:
        session.op("pipeline.delete", name=name, project=project)
    stdout.print(f"deleted pipeline {name}")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
    )


#: what a pipeline's rows are, by its --data
ROWS = {"events": "event", "people": "profile", "identity": "identity mapping"}


def _step_line(step: dict[str, Any], rows: str) -> str:
    """``backfill FROM → TO: N events, ok``; a people or identity snapshot has no start."""
    kind = step["files"].get("kind")
    window = (
        f"at {step['window_end']}"
        if step["window_start"] is None
        else f"{step['window_start']} → {step['window_end']}"
    )
    return f"{kind} {window}: {plural(step['events_exported'] or 0, rows)}, {step['status']}"


def _run_steps(session: Any, name: str, project: str | None, **kwargs: Any) -> dict[str, Any]:
    """Run one step per call so that progress shows and Ctrl-C loses at most one step."""
    total = {"steps": 0, "events_exported": 0, "watermark": None, "data": "events"}
    progress = _progress()
    task = progress.add_task(f"pipeline {name}", total=None)
    with progress:
        while True:
            info = session.op("pipeline.progress", name=name, project=project)
            if info["chunks"]:
                progress.update(
                    task,
                    total=info["events"],
                    completed=info["events_done"],
                    description=f"{name} · backfill {info['done']}/{info['chunks']} chunks",
                )
            result = session.op("pipeline.run", name=name, project=project, max_steps=1, **kwargs)
            total["data"] = result.get("data", "events")
            rows = ROWS.get(total["data"], "row")
            for step in result["steps"]:
                total["steps"] += 1
                total["events_exported"] += step["events_exported"] or 0
                if not progress.live.is_started:
                    stderr.print(_step_line(step, rows), markup=False, highlight=False)
            progress.update(
                task, description=f"{name} · {plural(total['events_exported'], rows)} exported"
            )
            total["watermark"] = result["watermark"]
            if not result["steps"] or not result["pending"]:
                return total


@pipeline_app.command("run")
def run(
    name: NameArg,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", help="Export what was committed before this ISO timestamp (default: now)."
        ),
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Run a pipeline now: pending backfill first, then every event committed until --until.
    Safe to interrupt and run again: nothing is exported twice."""
    with Runtime(data_dir).session() as session:
        # a fixed end, so that a busy project does not keep the command chasing new events
        end = until or dt.datetime.now(dt.UTC).isoformat()
        total = _run_steps(session, name, project, until=end)
    if fmt is OutputFormat.table:
        rows = ROWS.get(total["data"], "row")
        stdout.print(
            f"{name}: {plural(total['steps'], 'step')}, "
            f"{plural(total['events_exported'], rows)} exported; watermark {total['watermark']}"
        )
    else:
        render_rows([total], fmt)


@pipeline_app.command("backfill")
def backfill(
    name: NameArg,
    from_date: Annotated[
        str,
        typer.Option(
            "--from", callback=check_day, help="First event day, YYYY-MM-DD (project timezone)."
        ),
    ],
    to_date: Annotated[
        str | None,
        typer.Option(
            "--to",
            callback=check_day,
            help="Last event day (inclusive); default: all after --from.",
        ),
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Export history (events committed before the pipeline was created) for event days
    [--from, --to], in chunks. Interrupted, it resumes where it stopped; days already
    exported are skipped."""
    with Runtime(data_dir).session() as session:
        planned = session.op(
            "pipeline.backfill", name=name, from_date=from_date, to_date=to_date, project=project
        )
        total = _run_steps(session, name, project, backfill_only=True)
    if fmt is OutputFormat.table:
        if not planned["planned"]:
            stdout.print(f"{name}: nothing new to backfill ({planned['reason']})")
        stdout.print(
            f"{name}: backfill wrote {plural(total['events_exported'], 'event')} "
            f"in {plural(total['steps'], 'chunk')}"
        )
    else:
        render_rows([dict(total, **planned)], fmt)


@pipeline_app.command("history")
def history(
    name: NameArg,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Every step, oldest first: its window, events in the store now vs events exported
    (a difference shows as `mismatch`), files, bytes, attempts and the error if any."""
    with Runtime(data_dir).session() as session:
        rows = session.op("pipeline.history", name=name, project=project)
    if fmt is OutputFormat.json:
        render_rows(rows, fmt)
    else:
        render_rows(rows, fmt, columns=HISTORY_COLUMNS if fmt is OutputFormat.table else None)


def register(app: typer.Typer) -> None:
    app.add_typer(pipeline_app, name="pipeline")
