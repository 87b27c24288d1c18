"""Operations the CLI runs either in-process or, while a server owns the data directory,
inside that server (``POST /api/v1/_cli/ops/{name}``).

Each operation takes a :class:`Context` and JSON-able keyword arguments and returns a
JSON-able result, so both paths give the CLI the same answer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from driftline.errors import InvalidInput, NotFound
from driftline.store import DuckDBStore, GroupCommitWriter


@dataclass
class Context:
    store: DuckDBStore
    writer: GroupCommitWriter


Operation = Callable[..., Any]
_OPS: dict[str, Operation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    def register(fn: Operation) -> Operation:
        _OPS[name] = fn
        return fn

    return register


def run(name: str, ctx: Context, args: dict[str, Any]) -> Any:
    _load()
    fn = _OPS.get(name)
    if fn is None:
        raise NotFound(f"unknown operation {name!r}")
    try:
        inspect.signature(fn).bind(ctx, **args)
    except TypeError as exc:  # wrong or missing arguments: the caller's mistake
        raise InvalidInput(f"{name}: {exc}") from None
    return fn(ctx, **args)


def _load() -> None:
    """Import every module of ``driftline.server.operations``: each registers its ops."""
    import pkgutil
    from importlib import import_module

    import driftline.server.operations as package

    for module in pkgutil.iter_modules(package.__path__):
        import_module(f"{package.__name__}.{module.name}")


@operation("project.create")
def project_create(ctx: Context, name: str, timezone: str = "UTC") -> dict[str, Any]:
    return ctx.store.create_project(name, timezone).public(show_secrets=True)


@operation("project.list")
def project_list(ctx: Context, show_secrets: bool = False) -> list[dict[str, Any]]:
    return [p.public(show_secrets) for p in ctx.store.list_projects()]


@operation("project.get")
def project_get(ctx: Context, ref: str | None = None) -> dict[str, Any]:
    return ctx.store.get_project(ref).public(show_secrets=True)
