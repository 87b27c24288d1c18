"""`driftline import events` and `driftline export events`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from driftline.cli.options import DEFAULT_DATA_DIR, DataDirOption, ProjectOption, check_day
from driftline.cli.render import goes_to_a_file, output_file, plural, progress, stderr
from driftline.cli.runtime import Runtime
from driftline.errors import TerminalError
from driftline.ingest.files import FORMATS
from driftline.ingest.importer import ImportChunk, import_event_files

import_app = typer.Typer(help="Load data into driftline from files.", no_args_is_help=True)
export_app = typer.Typer(help="Write data out of driftline.", no_args_is_help=True)


@import_app.command("events")
def import_events(
    files: Annotated[
        list[Path],
        typer.Argument(help="NDJSON, JSON-array or CSV files, plain or .gz.", show_default=False),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=f"One of {', '.join(FORMATS)}; guessed from the file name when left out.",
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Validate everything first and store nothing if any record is invalid."
        ),
    ] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Import events in Mixpanel's shape: `{"event": ..., "properties": {"time", "distinct_id", "$insert_id", ...}}`.

    `time` may be seconds or milliseconds since the epoch (or an ISO-8601 timestamp). CSV files
    need an `event` column; every other column becomes a property. Every valid record is
    stored and every invalid one reported by line (exit status 1); with `--strict` nothing is
    stored unless all records are valid. Importing the same file again never doubles events.
    """
    if fmt is not None and fmt not in FORMATS:
        raise TerminalError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    runtime = Runtime(data_dir)
    total_bytes = (
        sum(p.stat().st_size for p in files if p.is_file() and not p.name.endswith(".gz")) or None
    )
    with runtime.session() as session:
        target = session.project(project)
        bar = progress(total_bytes)
        task = bar.add_task("importing", total=total_bytes)
        stored = 0

        shown: dict[str, int] = {}  # bytes of a file shown read while it is one statement

        def on_read(chunk: ImportChunk) -> None:
            bar.update(task, advance=chunk.nbytes - shown.pop(chunk.path, 0))

        def on_progress(path: str, done: float) -> None:
            size = Path(path).stat().st_size
            before = shown.get(path, 0)
            shown[path] = int(size * done)
            bar.update(task, advance=shown[path] - before)
            if not bar.live.is_started and int(done * 10) > int(before * 10 / max(size, 1)):
                print(f"read {done:.0%} of {path}", file=sys.stderr, flush=True)

        def on_commit(chunk: ImportChunk, result: object) -> None:
            nonlocal stored
            stored += chunk.stored
            if bar.live.is_started:
                bar.update(task, description=f"importing · {stored:,} stored")
            else:  # not a terminal: one line per commit
                where = "" if chunk.whole_file else f" lines {chunk.first_line}-{chunk.last_line}"
                print(
                    f"stored {plural(chunk.stored, 'event')} from {chunk.path}{where} "
                    f"(total {stored:,})",
                    file=sys.stderr,
                    flush=True,
                )

        with bar:
            report = import_event_files(
                files,
                project_id=target.id,
                sink=session.write_event_stream,
                bulk=session.bulk_sink,
                fmt=fmt,
                strict=strict,
                chunk_rows=runtime.settings.import_chunk_rows,
                commit_rows=runtime.settings.import_batch_rows,
                on_commit=on_commit,
                on_read=on_read,
                on_progress=on_progress,
            )
    rate = report.stored / report.seconds if report.seconds else 0
    stderr.print(
        f"{report.stored:,} of {plural(report.records, 'record')} stored into project "
        f"{target.id} ({target.name}) "
        f"in {report.seconds:.1f}s ({rate:,.0f} events/s)"
    )
    if report.invalid:
        for err in report.errors:
            stderr.print(f"  {err}", markup=False, highlight=False)
        more = report.invalid - len(report.errors)
        if more > 0:
            stderr.print(f"  ... and {plural(more, 'more invalid record')}")
        verdict = (
            "nothing was stored (--strict)"
            if report.stored_nothing
            else "the valid records were stored"
        )
        raise TerminalError(f"{plural(report.invalid, 'invalid record')}; {verdict}")


@export_app.command("events")
def export_events(
    from_date: Annotated[
        str,
        typer.Option(
            "--from", callback=check_day, help="First day, YYYY-MM-DD, in the project's timezone."
        ),
    ],
    to_date: Annotated[
        str, typer.Option("--to", callback=check_day, help="Last day (inclusive), YYYY-MM-DD.")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    time_in_ms: Annotated[
        bool, typer.Option("--time-in-ms", help="Times in milliseconds instead of seconds.")
    ] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Export events as Mixpanel raw-export NDJSON (one event per line), deduplicated."""
    params = {
        "from_date": from_date,
        "to_date": to_date,
        "time_in_ms": "true" if time_in_ms else "false",
    }
    with Runtime(data_dir).session() as session:
        target = session.project(project)
        written = 0
        with (
            output_file(output, binary=True) as out,
            progress(unit="events", enabled=goes_to_a_file(output), transient=True) as bar,
        ):
            task = bar.add_task(f"exporting to {output or 'stdout'}", total=None)
            for chunk in session.export(target, params):
                out.write(chunk)
                lines = chunk.count(b"\n")
                written += lines
                bar.update(task, advance=lines)
    if output:
        stderr.print(
            f"{plural(written, 'event')} written to {output}", markup=False, highlight=False
        )


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")
