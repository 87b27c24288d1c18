"""The ``driftline`` command line.

Command groups live in :mod:`driftline.cli.commands`, one module each, and each module has
``register(app)``. Every failure ends in one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import logging
import os
import pkgutil
import sys
from importlib import import_module

import typer

from driftline import __version__
from driftline.errors import DriftlineError

app = typer.Typer(
    name="driftline",
    help=(
        "driftline: self-hosted product analytics. Collect events (Mixpanel and Snowplow "
        "compatible), import warehouse tables, export to buckets and warehouses, and ask "
        "segmentation, funnel and retention questions.\n\n"
        "Start with `driftline init`, then `driftline serve --demo`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"driftline {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """driftline command line."""


def _register_commands() -> None:
    import driftline.cli.commands as commands

    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        import_module(f"{commands.__name__}.{module.name}").register(app)


_register_commands()


class _OneLine(logging.Formatter):
    """A log record as ``warning: <its first line>`` (``error from gcsfs: ...`` for another
    library's): no traceback, no time."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage().strip()
        line = text.splitlines()[0] if text else ""
        level = record.levelname.lower()
        if record.name.split(".")[0] == "driftline":
            return f"{level}: {line}"
        return f"{level} from {record.name.split('.')[0]}: {line}"


def _one_line_logging() -> None:
    """What libraries log reaches the terminal as one line each: driftline's own warnings and
    other libraries' errors (a storage client retrying, say), never a traceback. The error
    that ends a command is printed by :func:`main`. With ``DRIFTLINE_DEBUG`` set, Python's
    own handling of log records is left as it is. ``driftline serve`` sets up its own log."""
    if os.environ.get("DRIFTLINE_DEBUG"):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLine())
    handler.addFilter(lambda r: r.levelno >= logging.ERROR or r.name.startswith("driftline"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def main() -> None:
    """Entry point: run the app and turn every error into one line and exit status 1."""
    _one_line_logging()
    try:
        code = app(standalone_mode=False)
        # Typer turns Ctrl-C into an exit status that it returns (130) instead of raising:
        # without this check an interrupted command would exit 0, as if it had finished
        if isinstance(code, int) and not isinstance(code, bool) and code:
            if code == 130:
                raise KeyboardInterrupt
            sys.exit(code)
    except DriftlineError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):  # older Typer
            typer.echo("interrupted", err=True)
            sys.exit(130)
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # click usage errors and the unexpected
        if _is_interrupt(exc):  # Ctrl-C while DuckDB ran a query: DuckDB stopped it
            typer.echo("interrupted", err=True)
            sys.exit(130)
        if _is_click_error(exc):  # a usage error: click's own message and usage line
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if os.environ.get("DRIFTLINE_DEBUG"):
            raise
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            typer.echo(f"error: {_missing_package(exc.name)}", err=True)
            sys.exit(1)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        typer.echo(
            f"error: unexpected {type(exc).__name__}: {first} (set DRIFTLINE_DEBUG=1 for the traceback)",
            err=True,
        )
        sys.exit(1)


def _is_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is DuckDB's answer to Ctrl-C: it stops the query and raises its
    ``InterruptException``, or a plain ``RuntimeError("Query interrupted")`` from a fetch."""
    return type(exc).__name__ == "InterruptException" or (
        isinstance(exc, RuntimeError) and str(exc).strip() == "Query interrupted"
    )


def _is_click_error(exc: BaseException) -> bool:
    """Whether ``exc`` is click's (usage errors, bad parameters): Typer may bring its own copy
    of click, whose classes are not the installed click's."""
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__)


def _missing_package(module: str) -> str:
    """A package no connector's own check named (each connector names its extra itself)."""
    top = module.split(".")[0]
    return f"this needs the Python package {top!r}, which is not installed: pip install {top}"
