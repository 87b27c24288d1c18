"""Options every command shares."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

DataDirOption = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="DRIFTLINE_DATA_DIR",
        help="Data directory holding the store (created by `driftline init`).",
        show_default=True,
    ),
]
ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-p",
        envvar="DRIFTLINE_PROJECT",
        help="Project id or name (default: the first project).",
    ),
]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]

DEFAULT_DATA_DIR = Path(".driftline")
