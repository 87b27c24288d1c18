"""Operations the CLI runs either in-process or, while a server owns the data directory,
inside that server (``POST /api/v1/_cli/ops/{name}``).

Each operation takes a :class:`Context` and JSON-able keyword arguments and returns a
JSON-able result, so both paths give the CLI the same answer.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from driftline.errors import InvalidInput, NotFound
from driftline.store import DuckDBStore, GroupCommitWriter


@dataclass
class Context:
    store: DuckDBStore
    writer: GroupCommitWriter


Operation = Callable[..., Any]
T = TypeVar("T")
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
    return fn(ctx, **_checked(name, fn, args))


def _checked(name: str, fn: Operation, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` checked against ``fn``'s annotations (leniently: ``"5"`` is the int 5): a
    value of the wrong type is the caller's mistake, answered naming it, not a crash inside
    the operation."""
    adapters = _adapters(fn)
    checked = dict(args)
    for key, value in args.items():
        if key in adapters:
            checked[key] = _validate(adapters[key], value, f"{name}: {key}", key)
    return checked


def checked_spec(cls: type[T], values: dict[str, Any]) -> T:
    """A spec dataclass from JSON-able ``values``, each field checked against its type."""
    return _validate(_adapter(cls), values, cls.__name__, None)  # type: ignore[no-any-return]


def _validate(adapter: TypeAdapter[Any], value: Any, what: str, field: str | None) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(
            f"{what}{': ' + loc if loc else ''}: {first['msg']}", field=field or loc or None
        ) from None


@functools.cache
def _adapters(fn: Operation) -> dict[str, TypeAdapter[Any]]:
    hints = typing.get_type_hints(fn)
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {
        p.name: _adapter(hints[p.name])
        for p in list(inspect.signature(fn).parameters.values())[1:]  # after ctx
        if p.kind in keyword and p.name in hints
    }


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


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
