"""`driftline project create|list`."""

from __future__ import annotations

from typing import Annotated

import typer

from driftline.cli.options import DEFAULT_DATA_DIR, DataDirOption, FormatOption, OutputFormat
from driftline.cli.render import render_rows, stdout
from driftline.cli.runtime import Runtime

project_app = typer.Typer(
    help="Create and list projects. Each project has its own token (ingestion) and secret (import, query, admin).",
    no_args_is_help=True,
)


@project_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Unique project name.")],
    timezone: Annotated[
        str,
        typer.Option(
            "--timezone", "-z", help="IANA timezone for day boundaries in reports and exports."
        ),
    ] = "UTC",
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Create a project and print its id, token and secret."""
    with Runtime(data_dir).session() as session:
        project = session.op("project.create", name=name, timezone=timezone)
    if fmt is OutputFormat.table:
        stdout.print(
            f"created project {project['id']} ({project['name']}), timezone {project['timezone']}"
        )
        stdout.print(f"  token:  {project['token']}   (for /track, /engage, /groups and trackers)")
        stdout.print(
            f"  secret: {project['secret']}   (for /import, queries and the admin API; keep it private)"
        )
    else:
        render_rows([project], fmt)


@project_app.command("list")
def list_(
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Include each project's secret.")
    ] = False,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """List projects (secrets only with --show-secrets)."""
    with Runtime(data_dir).session() as session:
        projects = session.op("project.list", show_secrets=show_secrets)
    columns = ["id", "name", "token", "timezone"] + (["secret"] if show_secrets else [])
    render_rows(projects, fmt, columns=columns)


def register(app: typer.Typer) -> None:
    app.add_typer(project_app, name="project")
