"""Printing results as a Rich table, JSON or CSV."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from driftline.cli.options import OutputFormat

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 event``, ``2 events``, ``1,234 events``: a count and its noun, agreeing.
    ``nouns`` is the plural where adding "s" is not it (``plural(n, "company", "companies")``)."""
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"


def progress(
    total: float | None = None,
    *,
    unit: str | None = None,
    enabled: bool = True,
    transient: bool = False,
) -> Progress:
    """A progress display for long work, drawn on stderr when stderr is a terminal (and
    ``enabled``); otherwise it draws nothing. A bar with the percentage done when ``total``
    is known, else a running count of ``unit`` (or done/?). Standard output is never
    captured into the display: it may be the data itself."""
    amount: ProgressColumn
    if unit is not None:
        amount = TextColumn(f"{{task.completed:,.0f}} {unit}")
    elif total is None:
        amount = MofNCompleteColumn()
    else:
        amount = TextColumn("{task.percentage:>3.0f}%")
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        amount,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=transient,
        disable=not (enabled and stderr.is_terminal),
        redirect_stdout=False,
    )


def render_rows(
    rows: Sequence[dict[str, Any]],
    fmt: OutputFormat,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    cols = list(columns) if columns else (list(rows[0].keys()) if rows else [])
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(list(rows), indent=2, default=str) + "\n")
        return
    if fmt is OutputFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
        return
    table = Table(title=title, show_lines=False)
    for col in cols:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in cols))
    if stdout.is_terminal:
        stdout.print(table)
        return
    # Piped into a file or another program there is no screen to fit: every value whole.
    width = Measurement.get(stdout, stdout.options.update_width(100_000), table).maximum
    Console(width=max(width, 20), soft_wrap=True).print(table)


def goes_to_a_file(path: Path | None) -> bool:
    """Whether what :func:`output_file` writes lands in a file (``path``, or stdout
    redirected), not on the screen, where a progress display would mix with it."""
    return path is not None or not sys.stdout.isatty()


@contextlib.contextmanager
def output_file(path: Path | None, *, binary: bool = False) -> Iterator[IO[Any]]:
    """Standard output, or the file ``path`` written whole or not at all: the lines go to
    ``<path>.partial`` beside it, which becomes ``path`` once everything is written. An
    export that fails or is interrupted leaves no file that looks complete, and an earlier
    file of that name as it was."""
    if path is None:
        stream: IO[Any] = sys.stdout.buffer if binary else sys.stdout
        try:
            yield stream
        finally:
            stream.flush()
        return
    partial = path.with_name(path.name + ".partial")
    out = open(partial, "wb" if binary else "w")  # noqa: SIM115
    try:
        yield out
        out.close()
        os.replace(partial, path)
    except BaseException:
        out.close()
        partial.unlink(missing_ok=True)
        raise
