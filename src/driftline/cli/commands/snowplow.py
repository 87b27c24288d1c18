"""`driftline import snowplow` and `driftline export bad-rows`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from driftline.cli.options import (
    DEFAULT_DATA_DIR,
    DataDirOption,
    FormatOption,
    OutputFormat,
    ProjectOption,
    check_day,
)
from driftline.cli.render import (
    goes_to_a_file,
    output_file,
    plural,
    progress,
    render_rows,
    stderr,
)
from driftline.cli.runtime import Runtime
from driftline.errors import TerminalError, TransientError

PAGE = 10_000


def import_snowplow(
    source: Annotated[
        str,
        typer.Argument(
            help="A file or directory of enriched TSV (plain or .gz), an s3://, gs:// or az:// URL, "
            "or kinesis://STREAM?endpoint_url=...&region=... for an enriched stream.",
            show_default=False,
        ),
    ],
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Import Snowplow enriched events (the 131-field TSV that Enrich writes).

    Every event lands in `events` (as `origin` "snowplow", `$insert_id` = `event_id`) and,
    whole, in `snowplow_events`. Lines that are not valid enriched events become
    `loader_parsing_error` bad rows (see `driftline export bad-rows`). Run it again to pick
    up new files only: files already imported are skipped; a Kinesis stream continues from
    its checkpoints. A clean local file is stored in one transaction (all of it or, if the
    run is killed, none of it), other files block by block; a killed run is simply run again.
    """
    source = _absolute(source)
    with Runtime(data_dir).session() as session:
        target = session.project(project)
        label = f"importing {source} into project {target.id} ({target.name})"
        if session.remote or source.startswith("kinesis://"):
            with stderr.status(label):
                try:
                    summary = session.op("snowplow.import", project_id=target.id, source=source)
                except (TerminalError, TransientError) as exc:
                    if session.remote and "://" in source and exc.field is None:
                        # credentials and endpoints are the server's, not this shell's
                        raise type(exc)(
                            f"{exc.message} (the running `driftline serve` reads the source, "
                            "with the environment it was started in)"
                        ) from None
                    raise
        else:
            summary = _import_with_progress(session, source, target.id, label)
    if fmt is not OutputFormat.table:
        render_rows([{k: v for k, v in summary.items() if k != "file_results"}], fmt)
        return
    stderr.print(
        f"{plural(summary['events'], 'event')} and {plural(summary['bad_rows'], 'bad row')} "
        f"from {_sources(summary)} into project {target.id} ({target.name}) "
        f"in {summary['seconds']:.1f}s ({summary['events_per_second']:,} events/s)"
    )


def _sources(summary: dict[str, Any]) -> str:
    """``3 new files (1 already imported)``, or the shards of a stream."""
    if "shards" in summary and "files" not in summary:
        return plural(summary["shards"], "shard")
    return (
        f"{plural(summary.get('files', 0), 'new file')} "
        f"({summary.get('skipped', 0):,} already imported)"
    )


def _import_with_progress(
    session: object, source: str, project_id: int, label: str
) -> dict[str, Any]:
    """In-process import with a live count of committed events (stderr)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from driftline.snowplow.importer import import_files

    ctx = session.ctx  # type: ignore[attr-defined]
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,} events committed"),
        TimeElapsedColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
    ) as progress:
        task = progress.add_task(label, total=None)

        def on_progress(file: str, events: int) -> None:
            progress.update(task, advance=events)

        summary = import_files(ctx.store, ctx.writer, source, project_id, on_progress=on_progress)
    return summary.as_dict()


def _absolute(source: str) -> str:
    if not source.strip():
        raise typer.BadParameter("empty: give a file, a directory or a URL", param_hint="SOURCE")
    if "://" in source:
        return source
    path = Path(source)
    if not path.exists():
        raise typer.BadParameter(f"{source}: no such file or directory", param_hint="SOURCE")
    return str(path.resolve())


def export_bad_rows(
    from_date: Annotated[
        str | None,
        typer.Option("--from", callback=check_day, help="First day received, YYYY-MM-DD (UTC)."),
    ] = None,
    to_date: Annotated[
        str | None,
        typer.Option("--to", callback=check_day, help="Last day received (inclusive), YYYY-MM-DD."),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="Only this kind: tracker_protocol_violations, schema_violations, "
            "enrichment_failures, adapter_failures, size_violation, loader_parsing_error.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    count: Annotated[
        bool,
        typer.Option("--count", help="Print how many bad rows there are of each kind instead."),
    ] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Export Snowplow bad rows as NDJSON, one self-describing bad row per line
    (`iglu:com.snowplowanalytics.snowplow.badrows/...`), oldest first."""
    with Runtime(data_dir).session() as session:
        target = session.project(project)
        if count:
            rows = session.op(
                "snowplow.bad_rows.count", project_id=target.id, start=from_date, end=to_date
            )
            render_rows(rows, fmt, columns=["kind", "count", "first", "last"])
            return
        written = _write_pages(
            session,
            "snowplow.bad_rows.export",
            {"project_id": target.id, "start": from_date, "end": to_date, "kind": kind},
            output,
            str,
            unit="bad rows",
        )
    if output:
        stderr.print(
            f"{plural(written, 'bad row')} written to {output}", markup=False, highlight=False
        )


def export_snowplow(
    from_date: Annotated[
        str | None,
        typer.Option("--from", callback=check_day, help="First day collected, YYYY-MM-DD (UTC)."),
    ] = None,
    to_date: Annotated[
        str | None,
        typer.Option(
            "--to", callback=check_day, help="Last day collected (inclusive), YYYY-MM-DD."
        ),
    ] = None,
    shape: Annotated[
        str,
        typer.Option(
            "--shape", help="tsv: Enrich's 131-field lines; json: the Analytics SDK JSON shape."
        ),
    ] = "tsv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Export the stored enriched events as Snowplow enriched TSV, or as NDJSON in the
    Analytics SDK shape (`contexts_<vendor>_<name>_<model>`, `unstruct_event_...`)."""
    if shape not in ("tsv", "json"):
        raise typer.BadParameter("use tsv or json", param_hint="--shape")
    with Runtime(data_dir).session() as session:
        target = session.project(project)
        written = _write_pages(
            session,
            "snowplow.export",
            {"project_id": target.id, "start": from_date, "end": to_date, "shape": shape},
            output,
            str,
            unit="enriched events",
        )
    if output:
        stderr.print(
            f"{plural(written, 'enriched event')} written to {output}",
            markup=False,
            highlight=False,
        )


def _write_pages(
    session: Any,
    op_name: str,
    args: dict[str, Any],
    output: Path | None,
    render: Callable[[Any], str],
    *,
    unit: str,
) -> int:
    """Write every page of ``op_name``'s items, one line each, to ``output`` (whole or not at
    all) or stdout, with a count of ``unit`` written on the terminal meanwhile."""
    written, after = 0, None
    with (
        output_file(output) as out,
        progress(unit=unit, enabled=goes_to_a_file(output), transient=True) as bar,
    ):
        task = bar.add_task(f"exporting to {output or 'stdout'}", total=None)
        while True:
            page = session.op(op_name, **args, after=after, limit=PAGE)
            out.writelines(render(item) + "\n" for item in page["items"])
            written += len(page["items"])
            bar.update(task, advance=len(page["items"]))
            after = page["after"]
            if after is None:
                return written


def register(app: typer.Typer) -> None:
    from driftline.cli.commands.transfer import export_app, import_app

    import_app.command("snowplow")(import_snowplow)
    export_app.command("bad-rows")(export_bad_rows)
    export_app.command("snowplow")(export_snowplow)
