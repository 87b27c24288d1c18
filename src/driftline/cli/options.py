"""Options every command shares."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from driftline.errors import InvalidInput

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


def check_day(param: typer.CallbackParam, value: str | None) -> str | None:
    """Callback of a day option (``--from``, ``--to``): a value that is not a date is one
    line naming the option as the user typed it, before anything runs."""
    if value is not None:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            flag = param.opts[0] if param.opts else f"--{param.name}"
            raise InvalidInput(
                f"{flag} {value!r} is not a date; use YYYY-MM-DD", field=param.name
            ) from None
    return value


FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]

DEFAULT_DATA_DIR = Path(".driftline")
