"""`driftline warehouse ...`, `driftline sync ...` and `driftline apply FILE.toml`."""

from __future__ import annotations

import json
import sys
import time
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from driftline.cli.options import (
    DEFAULT_DATA_DIR,
    DataDirOption,
    FormatOption,
    OutputFormat,
    ProjectOption,
)
from driftline.cli.render import plural, render_rows, stderr, stdout
from driftline.cli.runtime import Runtime
from driftline.errors import InvalidInput, TerminalError
from driftline.model import SyncMode, TableType

warehouse_app = typer.Typer(
    help="Warehouses driftline reads from: PostgreSQL, Redshift, MySQL/MariaDB, SQLite, DuckDB "
    "(and Parquet folders), Snowflake, BigQuery, Databricks.",
    no_args_is_help=True,
)
sync_app = typer.Typer(
    help="Syncs: keep a warehouse table loaded as events, user profiles, group profiles or a "
    "lookup table.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="Sync name.", show_default=False)]


def _column(flag: str, text: str) -> Any:
    return typer.Option(flag, help=text, show_default=False)


# ---------------------------------------------------------------------- warehouse
@warehouse_app.command("add")
def warehouse_add(
    name: Annotated[str, typer.Argument(help="A name for the warehouse.", show_default=False)],
    url: Annotated[
        str,
        typer.Argument(
            help="postgresql://, redshift://, mysql://, sqlite:///, duckdb:///, snowflake://, "
            "bigquery:// or databricks:// URL. Write secrets as ${ENV_VAR}: they are read from "
            "the environment (of `driftline serve`, while it runs) when a connection opens, "
            "and never stored.",
            show_default=False,
        ),
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Change an existing warehouse's URL.")
    ] = False,
    no_test: Annotated[
        bool,
        typer.Option(
            "--no-test",
            help="Save without connecting: for a warehouse not reachable from here yet. "
            "A URL that can never work (no host, no path) is refused all the same.",
        ),
    ] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Add a warehouse, after connecting to it as `warehouse test` does: a URL that does not
    connect (wrong host, port, password, database or file) is refused with the reason, and
    nothing is saved.

    Example: `driftline warehouse add shop 'postgresql://loader:${PG_PASSWORD}@db:5432/shop'`
    """
    with Runtime(data_dir).session() as session, stderr.status(f"connecting to {name}"):
        out = session.op(
            "warehouse.add", name=name, url=url, project=project, replace=replace,
            test=not no_test,
        )  # fmt: skip
    if out.get("tested"):
        tables = len(out.get("tables", []))
        stderr.print(
            f"warehouse {out['name']} ({out['source']}) {out['url']}: connected, "
            f"{tables}{'+' if tables >= 200 else ''} tables readable — next: "
            f"`driftline sync add NAME --warehouse {name} --table TABLE ...`",
            markup=False,
        )
        return
    stderr.print(
        f"warehouse {out['name']} ({out['source']}) {out['url']} saved without a test — "
        f"check it with `driftline warehouse test {name}`",
        markup=False,
    )


@warehouse_app.command("list")
def warehouse_list(
    fmt: FormatOption = OutputFormat.table,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """List warehouses (passwords masked)."""
    with Runtime(data_dir).session() as session:
        rows = session.op("warehouse.list", project=project)
    for row in rows:
        row["modes"] = ",".join(row["modes"]) if fmt is not OutputFormat.json else row["modes"]
    render_rows(rows, fmt, columns=["name", "source", "url", "modes", "created_at"])


@warehouse_app.command("test")
def warehouse_test(
    name: Annotated[str, typer.Argument(help="Warehouse name.", show_default=False)],
    fmt: FormatOption = OutputFormat.table,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Reach the warehouse, sign in, and list the tables the credentials can read."""
    with Runtime(data_dir).session() as session, stderr.status(f"connecting to {name}"):
        out = session.op("warehouse.test", name=name, project=project)
    if fmt is OutputFormat.json:
        render_rows([out], fmt)
        return
    for line in out["checks"]:
        stdout.print(f"✓ {line}", markup=False)
    for table in out["tables"]:
        stdout.print(f"  {table}", markup=False)


@warehouse_app.command("delete")
def warehouse_delete(
    name: Annotated[str, typer.Argument(help="Warehouse name.", show_default=False)],
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Remove a warehouse. Refused while syncs use it (the error names them): delete those
    first with `driftline sync delete NAME`, so that no sync's state is lost by accident.
    To change a warehouse's URL instead, use `driftline warehouse add NAME URL --replace`."""
    with Runtime(data_dir).session() as session:
        session.op("warehouse.delete", name=name, project=project)
    stderr.print(f"warehouse {name} deleted", markup=False)


# ---------------------------------------------------------------------- sync
@sync_app.command("add")
def sync_add(
    name: Name,
    warehouse: Annotated[
        str, typer.Option("--warehouse", "-w", help="Warehouse name.", show_default=False)
    ],
    table: Annotated[
        str, typer.Option("--table", help="[SCHEMA.]TABLE or view.", show_default=False)
    ],
    type_: Annotated[
        TableType, typer.Option("--type", help="What the rows are.", show_default=False)
    ],
    mode: Annotated[
        SyncMode,
        typer.Option(
            "--mode",
            help="append: new rows by insert time (events); full: reload and upsert each run "
            "(not events); one-time: load once; mirror: inserts, updates and deletes.",
            show_default=False,
        ),
    ],
    every: Annotated[
        str | None, _column("--every", "Run inside `driftline serve` every 1h, 1d or 1w.")
    ] = None,
    event_name: Annotated[
        str | None, _column("--event-name", "Events: one fixed event name.")
    ] = None,
    event_name_column: Annotated[
        str | None, _column("--event-name-column", "Events: column with the event name.")
    ] = None,
    time_column: Annotated[
        str | None, _column("--time-column", "Events: event time (timestamp, date or epoch).")
    ] = None,
    user_id_column: Annotated[
        str | None, _column("--user-id-column", "Events: column mapped to $user_id.")
    ] = None,
    device_id_column: Annotated[
        str | None, _column("--device-id-column", "Events: column mapped to $device_id.")
    ] = None,
    insert_id_column: Annotated[
        str | None,
        _column(
            "--insert-id-column",
            "Events: column mapped to $insert_id (default: a stable hash of the row).",
        ),
    ] = None,
    json_properties_column: Annotated[
        str | None,
        _column("--json-properties-column", "Events: JSON column flattened into properties."),
    ] = None,
    insert_time_column: Annotated[
        str | None,
        _column("--insert-time-column", "When each row was written (append's watermark)."),
    ] = None,
    id_column: Annotated[
        str | None,
        _column(
            "--id-column", "Key of profiles (user id), group profiles (group id) and lookup tables."
        ),
    ] = None,
    group_key: Annotated[
        str | None, _column("--group-key", "Group profiles: the group key, e.g. company_id.")
    ] = None,
    start_time_column: Annotated[
        str | None,
        _column("--start-time-column", "User profiles: a History table's start-time column."),
    ] = None,
    lookup_property: Annotated[
        str | None,
        _column(
            "--lookup-property", "Lookup tables: event property holding the ids (default: NAME)."
        ),
    ] = None,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Do not check the mapping against the table now.")
    ] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Change an existing sync.")] = False,
    fmt: FormatOption = OutputFormat.table,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Add a sync. The mapping is checked against the table before it is saved.

    Example: `driftline sync add orders --warehouse shop --table public.orders --type events
    --mode append --event-name "Order Placed" --time-column created_at --user-id-column
    user_id --insert-id-column id --insert-time-column updated_at --every 1h`
    """
    spec: dict[str, Any] = {
        "name": name, "warehouse": warehouse, "table": table, "type": type_.value, "mode": mode.value,
        "every": every, "event_name": event_name, "event_name_column": event_name_column,
        "time_column": time_column, "user_id_column": user_id_column,
        "device_id_column": device_id_column, "insert_id_column": insert_id_column,
        "json_properties_column": json_properties_column, "insert_time_column": insert_time_column,
        "id_column": id_column, "group_key": group_key, "start_time_column": start_time_column,
        "lookup_property": lookup_property,
    }  # fmt: skip
    spec = {k: v for k, v in spec.items() if v is not None}
    with Runtime(data_dir).session() as session:
        out = session.op(
            "sync.add", spec=spec, project=project, check_table=not no_check, replace=replace
        )
    if fmt is not OutputFormat.table:
        render_rows([out], fmt)
        return
    stderr.print(f"sync {name}: {out['type']} from {out['table']} ({out['mode']})", markup=False)
    if out.get("mapping"):
        render_rows(out["mapping"], fmt, columns=["column", "type", "lands_as"])
    stderr.print(
        f"next: `driftline sync preview {name}`, then `driftline sync run {name}`", markup=False
    )


@sync_app.command("list")
def sync_list(
    fmt: FormatOption = OutputFormat.table,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """List syncs with their schedule, watermark and last run."""
    with Runtime(data_dir).session() as session:
        rows = session.op("sync.list", project=project)
    render_rows(
        rows, fmt,
        columns=["name", "warehouse", "table", "type", "mode", "every", "watermark", "last_run", "last_status"],
    )  # fmt: skip


@sync_app.command("preview")
def sync_preview(
    name: Name,
    rows: Annotated[
        int, typer.Option("--rows", "-n", min=1, max=1000, help="Sample rows to show.")
    ] = 10,
    fmt: FormatOption = OutputFormat.table,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Show the table's columns, the mapping, the first rows as they will land and how many
    rows the next run will read. Nothing is written."""
    with Runtime(data_dir).session() as session, stderr.status(f"previewing {name}"):
        out = session.op("sync.preview", name=name, project=project, rows=rows)
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
        return
    stdout.print(
        f"sync {out['sync']}: {out['type']} from {out['table']} ({out['mode']})", markup=False
    )
    render_rows(
        out["mapping"], OutputFormat.table, columns=["column", "type", "lands_as"], title="mapping"
    )
    since = f" (insert time ≥ {out['since']})" if out["since"] else ""
    stdout.print(f"rows the next run reads: {out['rows_to_read']:,}{since}", markup=False)
    if out["skip"]:
        stdout.print(f"the next run does nothing: {out['skip']}", markup=False)
    if out.get("pending"):
        p = out["pending"]
        note = f" ({p['note']})" if p.get("note") else ""
        stdout.print(
            f"pending changes: {plural(p['inserts'], 'insert')}, "
            f"{plural(p['updates'], 'update')}, {plural(p['deletes'], 'delete')}{note}",
            markup=False,
        )
    sample = [{k: _cell(v) for k, v in r.items()} for r in out["sample"]]
    if fmt is OutputFormat.csv:
        render_rows(sample, fmt)
    elif sample:
        render_rows(sample, OutputFormat.table, title="first rows as they will land")
    for bad in out["sample_rejected"]:
        stdout.print(f"rejected: {bad['rejected']}", markup=False)


def _cell(value: Any) -> Any:
    return json.dumps(value, default=str) if isinstance(value, dict | list) else value


@sync_app.command("run")
def sync_run(
    name: Name,
    retries: Annotated[
        int,
        typer.Option(
            "--retries", min=0, max=10, help="Retry transient errors this many times, with backoff."
        ),
    ] = 0,
    fmt: FormatOption = OutputFormat.table,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Run a sync now, with progress (rows, rows/s, ETA). The run is one transaction: if it
    fails or is stopped, nothing of it is stored and the next run starts from the same place."""
    from driftline.server.operations.sync import finished

    with Runtime(data_dir).session() as session:
        status = session.op("sync.start", name=name, project=project, retries=retries)
        try:
            status = _follow(session, name, project, status)
        except KeyboardInterrupt:
            session.op("sync.cancel", name=name, project=project)
            while session.op("sync.status", name=name, project=project).get("running"):
                time.sleep(0.2)
            raise TerminalError(
                f"sync {name} stopped: nothing of this run was stored; the next run starts from the same place"
            ) from None
    result = finished(status)
    if fmt is not OutputFormat.table:
        render_rows([result], fmt)
        return
    if result.get("status") == "skipped":
        stderr.print(f"sync {name}: nothing to do — {result.get('error')}", markup=False)
        return
    seconds = result.get("duration_seconds") or 0
    rate = result["rows_read"] / seconds if seconds else 0
    stderr.print(
        f"sync {name}: {plural(result['rows_read'], 'row')} read, {result['inserted']:,} inserted, "
        f"{result['updated']:,} updated, {result['deleted']:,} deleted, {result['rejected']:,} "
        f"rejected in {seconds:.1f}s ({rate:,.0f} rows/s)",
        markup=False,
    )


def _follow(session: Any, name: str, project: str | None, status: dict[str, Any]) -> dict[str, Any]:
    """Poll the run until it ends, drawing a progress bar (or lines when not a terminal)."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f} rows · {task.fields[rate]:,.0f} rows/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
    )
    last_rows = -1
    with bar:
        task = bar.add_task(f"sync {name}", total=None, rate=0)
        while True:
            if status.get("total") is not None:
                bar.update(task, total=max(status["total"], 1))
            bar.update(
                task, completed=status["rows_read"], rate=status["rows_per_second"],
                description=f"sync {name} · {status['status']}",
            )  # fmt: skip
            if (
                not stderr.is_terminal
                and status["rows_read"] != last_rows
                and status["status"] == "reading"
            ):
                last_rows = status["rows_read"]
                print(f"sync {name}: {plural(last_rows, 'row')} read", file=sys.stderr, flush=True)
            if not status.get("running", True):
                return status
            time.sleep(0.25)
            status = session.op("sync.status", name=name, project=project)


@sync_app.command("history")
def sync_history(
    name: Name,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10_000, help="Most recent runs to show.")
    ] = 100,
    fmt: FormatOption = OutputFormat.table,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Runs of a sync, oldest first: started, finished, status, rows read / inserted /
    updated / deleted / rejected, bytes, error."""
    with Runtime(data_dir).session() as session:
        rows = session.op("sync.history", name=name, project=project, limit=limit)
    render_rows(
        rows, fmt,
        columns=["started_at", "finished_at", "status", "rows_read", "inserted", "updated",
                 "deleted", "rejected", "bytes", "error"],
    )  # fmt: skip


@sync_app.command("delete")
def sync_delete(
    name: Name,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Delete a sync and its history. What it loaded stays in the store."""
    with Runtime(data_dir).session() as session:
        session.op("sync.delete", name=name, project=project)
    stderr.print(f"sync {name} deleted (the data it loaded stays)", markup=False)


# ---------------------------------------------------------------------- apply
def apply(
    file: Annotated[Path, typer.Argument(help="TOML file.", show_default=False)],
    no_check: Annotated[
        bool,
        typer.Option(
            "--no-check",
            help="Do not test warehouses (a connection each) or check syncs against their tables.",
        ),
    ] = False,
    fmt: FormatOption = OutputFormat.table,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    project: ProjectOption = None,
) -> None:
    """Declare warehouses, syncs and pipelines in one TOML file; applying it again
    changes nothing.

    Example, `driftline apply shop.toml` with this `shop.toml`:

        [warehouses.shop]
        url = "postgresql://loader:${PG_PASSWORD}@db:5432/shop"

        [syncs.orders]
        warehouse = "shop"
        table = "public.orders"
        type = "events"
        mode = "append"
        event_name = "Order Placed"
        time_column = "created_at"
        user_id_column = "user_id"
        insert_time_column = "updated_at"
        every = "1h"

        [pipelines.lake]
        destination = "s3://analytics/driftline"
        frequency = "hourly"
        from = "2026-01-01"

    Pipeline keys are `pipeline add`'s options (destination, data, frequency, sync, from).
    A pipeline given a new destination starts a new export there; data, frequency and from
    of an existing pipeline do not change in place (delete it, or use `pipeline backfill`).
    """
    try:
        doc = tomllib.loads(file.read_text())
    except FileNotFoundError:
        raise TerminalError(f"{file}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{file}: not valid TOML ({exc})") from None
    with Runtime(data_dir).session() as session:
        out = session.op("apply", doc=doc, project=project, check=not no_check)
    if fmt is not OutputFormat.table:
        sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
        return
    for section, items in out.items():
        for item in items:
            stderr.print(f"{section}: {item.get('name')} {_applied(item)}", markup=False)


def _applied(item: dict[str, Any]) -> str:
    """``created``, ``updated`` or ``unchanged`` (the JSON's ``applied``), and what follows
    from an update: a sync that starts over, a pipeline that exports anew elsewhere."""
    applied = str(item.get("applied", "applied"))
    if item.get("state_reset"):
        return f"{applied}: its table, type, mode or insert-time column changed, so it starts over"
    if applied == "replaced":
        return "replaced: a new destination, which gets an export of its own"
    return applied


def register(app: typer.Typer) -> None:
    app.add_typer(warehouse_app, name="warehouse")
    app.add_typer(sync_app, name="sync")
    app.command("apply")(apply)
