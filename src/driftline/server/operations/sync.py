"""Operations for warehouses and syncs, shared by the CLI (in-process or through a running
server), the admin API and ``driftline apply``."""

from __future__ import annotations

from typing import Any

from driftline.errors import InvalidInput, NotFound, TerminalError, TransientError
from driftline.server.ops import Context, operation
from driftline.sync import catalog, engine
from driftline.sync.runs import ActiveRuns, RetryPolicy
from driftline.sync.spec import SyncSpec


def _pid(ctx: Context, project: str | int | None) -> int:
    return ctx.store.get_project(None if project is None else str(project)).id


def parse_spec(raw: dict[str, Any]) -> SyncSpec:
    """A :class:`SyncSpec` from JSON-ish input, with a one-line error naming the field."""
    from pydantic import ValidationError

    try:
        return SyncSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "sync"
        msg = first.get("msg", "invalid")
        if first.get("type") == "extra_forbidden":
            msg = "is not a sync option"
        raise InvalidInput(f"{field}: {msg}", field=field) from None


@operation("warehouse.add")
def warehouse_add(
    ctx: Context, name: str, url: str, project: str | None = None, replace: bool = False,
    test: bool = True,
) -> dict[str, Any]:  # fmt: skip
    return catalog.add_warehouse(
        ctx.writer, _pid(ctx, project), name, url, replace=replace, test=test
    )


@operation("warehouse.delete")
def warehouse_delete(ctx: Context, name: str, project: str | None = None) -> dict[str, Any]:
    return catalog.delete_warehouse(ctx.writer, _pid(ctx, project), name)


@operation("warehouse.list")
def warehouse_list(ctx: Context, project: str | None = None) -> list[dict[str, Any]]:
    return catalog.list_warehouses(ctx.store, _pid(ctx, project))


@operation("warehouse.test")
def warehouse_test(ctx: Context, name: str, project: str | None = None) -> dict[str, Any]:
    return catalog.test_warehouse(ctx.store, _pid(ctx, project), name)


@operation("sync.add")
def sync_add(
    ctx: Context, spec: dict[str, Any], project: str | None = None, check_table: bool = True,
    replace: bool = False,
) -> dict[str, Any]:  # fmt: skip
    return catalog.add_sync(
        ctx.store,
        ctx.writer,
        _pid(ctx, project),
        parse_spec(spec),
        check_table=check_table,
        replace=replace,
    )


@operation("sync.list")
def sync_list(ctx: Context, project: str | None = None) -> list[dict[str, Any]]:
    return catalog.list_syncs(ctx.store, _pid(ctx, project))


@operation("sync.get")
def sync_get(ctx: Context, name: str, project: str | None = None) -> dict[str, Any]:
    return catalog.get_sync(ctx.store, _pid(ctx, project), name)


@operation("sync.delete")
def sync_delete(ctx: Context, name: str, project: str | None = None) -> dict[str, Any]:
    pid = _pid(ctx, project)
    if ActiveRuns.for_store(ctx.store, ctx.writer).running(pid, name):
        raise TerminalError(f'sync "{name}" is running; delete it when the run has finished')
    return catalog.delete_sync(ctx.writer, pid, name)


@operation("sync.preview")
def sync_preview(
    ctx: Context, name: str, project: str | None = None, rows: int = 10
) -> dict[str, Any]:
    if not 0 < rows <= 1000:
        raise InvalidInput("rows must be between 1 and 1000", field="rows")
    return engine.preview_sync(
        engine.load_sync(ctx.store, _pid(ctx, project), name), rows=rows, store=ctx.store
    )


@operation("sync.start")
def sync_start(
    ctx: Context, name: str, project: str | None = None, retries: int = 0
) -> dict[str, Any]:
    pid = _pid(ctx, project)
    engine.load_sync(ctx.store, pid, name)  # a clear 404 before a thread starts
    runs = ActiveRuns.for_store(ctx.store, ctx.writer)
    progress = runs.start(pid, name, RetryPolicy(attempts=1 + max(0, retries)))
    return progress.as_dict()


@operation("sync.status")
def sync_status(ctx: Context, name: str, project: str | None = None) -> dict[str, Any]:
    pid = _pid(ctx, project)
    status = ActiveRuns.for_store(ctx.store, ctx.writer).status(pid, name)
    if status is None:
        raise NotFound(f'sync "{name}" has no run in progress in this process')
    return status


@operation("sync.cancel")
def sync_cancel(ctx: Context, name: str, project: str | None = None) -> dict[str, Any]:
    """Stop a run in progress: it commits nothing, and the next run starts from the same place."""
    cancelled = ActiveRuns.for_store(ctx.store, ctx.writer).cancel(_pid(ctx, project), name)
    return {"sync": name, "cancelled": cancelled}


@operation("sync.run")
def sync_run(
    ctx: Context, name: str, project: str | None = None, retries: int = 0
) -> dict[str, Any]:
    """Run and wait; the history row, or the run's error."""
    pid = _pid(ctx, project)
    sync_start(ctx, name, project, retries)
    status = ActiveRuns.for_store(ctx.store, ctx.writer).wait(pid, name) or {}
    return finished(status)


def finished(status: dict[str, Any]) -> dict[str, Any]:
    if status.get("status") == "failed":
        cls = TransientError if status.get("transient") else TerminalError
        raise cls(f'sync "{status.get("sync")}" failed: {status.get("error")}')
    return status.get("result") or status


@operation("sync.history")
def sync_history(
    ctx: Context, name: str, project: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    pid = _pid(ctx, project)
    engine.load_sync(ctx.store, pid, name)
    return engine.history(ctx.store, pid, name, limit)


@operation("apply.warehouses")
def apply_warehouses(
    ctx: Context, items: dict[str, Any], project: str | None = None, check: bool = True
) -> list[dict[str, Any]]:
    """``[warehouses.NAME] url = "..."`` tables of a ``driftline apply`` file; each new or
    changed one is tested as `warehouse add` does, unless ``check`` is false."""
    out = []
    for name, body in items.items():
        if not isinstance(body, dict) or set(body) != {"url"} or not isinstance(body["url"], str):
            raise InvalidInput(
                f'[warehouses.{name}] needs exactly one key: url = "..."',
                field=f"warehouses.{name}",
            )
        try:
            before: str | None = engine.warehouse_url(ctx.store, _pid(ctx, project), name)
        except NotFound:
            before = None
        # an unchanged warehouse is not connected to again: apply stays repeatable offline
        test = check and before != body["url"]
        added = warehouse_add(ctx, name, body["url"], project, replace=True, test=test)
        out.append({**added, "applied": catalog.applied(before, body["url"])})
    return out


@operation("apply.syncs")
def apply_syncs(
    ctx: Context, items: dict[str, Any], project: str | None = None, check: bool = True
) -> list[dict[str, Any]]:
    """``[syncs.NAME]`` tables (keys are `sync add`'s flags with ``_``) of an apply file.
    A sync whose table, type, mode or watermark column changed starts over."""
    out = []
    for name, body in items.items():
        if not isinstance(body, dict):
            raise InvalidInput(f"[syncs.{name}] must be a table of options", field=f"syncs.{name}")
        try:
            spec = parse_spec({"name": name, **body})
        except InvalidInput as exc:
            raise InvalidInput(f"[syncs.{name}] {exc.message}", field=f"syncs.{name}") from None
        out.append(sync_add(ctx, spec.public(), project, check_table=check, replace=True))
    return out
