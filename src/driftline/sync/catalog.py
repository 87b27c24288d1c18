"""Warehouses and syncs as the user declares them: add, list, test, delete.

URLs are stored as written (``${ENV}`` references unresolved) and only ever shown
redacted. A sync's mapping is checked against the real table when it is added (unless the
caller says not to), and again at the start of every run.
"""

from __future__ import annotations

import json
from typing import Any

from driftline.errors import DriftlineError, InvalidInput, NotFound
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.store.sync_ops import DeleteSync, DeleteWarehouse, SaveSync, SaveWarehouse
from driftline.sync import sources, urls
from driftline.sync.engine import connected, resolve_mapping, warehouse_url
from driftline.sync.modes import available_modes
from driftline.sync.spec import NAME, SyncSpec


# ---------------------------------------------------------------------- warehouses
def add_warehouse(
    writer: GroupCommitWriter, project_id: int, name: str, url: str, *, replace: bool = False,
    test: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Save a warehouse. A URL that can never work is refused; with ``test`` (the default)
    the warehouse is reached and signed in to first, as `warehouse test` does, and a
    failure is refused with that error (field ``url``)."""
    if not NAME.match(name):
        raise InvalidInput(
            f"warehouse name {name!r} must be 1-64 letters, digits, '_', '.' or '-'", field="name"
        )
    caps = sources.check_url(url)
    probed = None
    if test:
        try:
            probed = _probe(url)
        except DriftlineError as exc:
            raise InvalidInput(
                f"{exc.message} (not reachable from here yet? add it with --no-test, "
                "or test=false over the API)",
                field="url",
            ) from None
    created = writer.write(SaveWarehouse(project_id, name, url, replace=replace))
    out = {"name": name, "url": urls.redact(url), "source": caps.name, "created": created}
    out["tested"] = probed is not None
    if probed is not None:
        out.update(probed)
    return out


def delete_warehouse(writer: GroupCommitWriter, project_id: int, name: str) -> dict[str, Any]:
    """Remove a warehouse no sync uses (a sync using it is never deleted along with it)."""
    writer.write(DeleteWarehouse(project_id, name))
    return {"name": name, "deleted": True}


def list_warehouses(store: DuckDBStore, project_id: int) -> list[dict[str, Any]]:
    rows = store.query_rows(
        "SELECT name, url, created_at FROM warehouses WHERE project_id = ? ORDER BY name",
        [project_id],
    )
    out = []
    for name, url, created in rows:
        try:
            caps = sources.capabilities(url)
            kind, arrow, modes = caps.name, caps.arrow_path, sorted(m.value for m in caps.modes)
        except InvalidInput:
            kind, arrow, modes = "unknown", "", []
        out.append(
            {
                "name": name,
                "url": urls.redact(url),
                "source": kind,
                "arrow_path": arrow,
                "modes": modes,
                "created_at": created.isoformat() if created else None,
            }
        )
    return out


def test_warehouse(store: DuckDBStore, project_id: int, name: str) -> dict[str, Any]:
    """Reach the warehouse, sign in, list what is readable."""
    url = warehouse_url(store, project_id, name)
    return {"name": name, "url": urls.redact(url), "ok": True, **_probe(url)}


def _probe(url: str) -> dict[str, Any]:
    """What `warehouse test` and `warehouse add` check: reach, sign in, list tables."""
    with connected(url) as source:
        lines = source.check()
        tables = [str(t) for t in source.list_tables()]
    return {"checks": lines, "tables": tables[:200]}


# ---------------------------------------------------------------------- syncs
def add_sync(
    store: DuckDBStore, writer: GroupCommitWriter, project_id: int, spec: SyncSpec, *,
    check_table: bool = True, replace: bool = False,
) -> dict[str, Any]:  # fmt: skip
    spec.check()
    url = warehouse_url(store, project_id, spec.warehouse)
    caps = sources.capabilities(url)
    if spec.mode not in caps.modes:
        raise InvalidInput(
            f'sync "{spec.name}": {caps.name} warehouses do not support mode {spec.mode.value}; '
            f"use one of: {', '.join(sorted(m.value for m in caps.modes & available_modes()))}",
            field="mode",
        )
    if spec.mode not in available_modes():
        raise InvalidInput(
            f'sync "{spec.name}": mode {spec.mode.value} is not available in this version of '
            "driftline yet; use append (events) or full (profiles, groups, lookup tables)",
            field="mode",
        )
    mapping = None
    if check_table:
        with connected(url) as source:
            mapping = resolve_mapping(source, spec)
    reset, old = False, None
    if replace:
        old = _spec(store, project_id, spec.name)
        reset = old is not None and _identity(old) != _identity(spec.public())
    created = writer.write(
        SaveSync(
            project_id, spec.name, spec.warehouse, spec.public(), replace=replace, reset_state=reset
        )
    )
    out = {**spec.public(), "created": created, "state_reset": reset}
    if replace:
        out["applied"] = applied(old, json.loads(json.dumps(spec.public())))
    if mapping is not None:
        out["mapping"] = mapping.describe()
    return out


def applied(before: object, after: object) -> str:
    """How ``driftline apply`` changed a declared item, as pipelines say it too: created,
    updated or unchanged."""
    if before is None:
        return "created"
    return "unchanged" if before == after else "updated"


def _identity(spec: dict[str, Any]) -> tuple[Any, ...]:
    """What a sync's loaded data depends on: changing it starts the sync over."""
    return tuple(spec.get(k) for k in ("warehouse", "table", "type", "mode", "insert_time_column"))


def _spec(store: DuckDBStore, project_id: int, name: str) -> dict[str, Any] | None:
    rows = store.query_rows(
        "SELECT spec FROM syncs WHERE project_id = ? AND name = ?", [project_id, name]
    )
    return json.loads(rows[0][0]) if rows else None


def list_syncs(store: DuckDBStore, project_id: int) -> list[dict[str, Any]]:
    rows = store.query_rows(
        """SELECT s.name, s.spec, s.state, r.started_at, r.status, r.error
           FROM syncs s LEFT JOIN (
               SELECT * FROM sync_runs WHERE project_id = ?
               QUALIFY row_number() OVER (PARTITION BY sync_name ORDER BY started_at DESC) = 1
           ) r ON r.sync_name = s.name
           WHERE s.project_id = ? ORDER BY s.name""",
        [project_id, project_id],
    )
    out = []
    for name, spec_json, state_json, last, status, error in rows:
        spec = json.loads(spec_json)
        state = json.loads(state_json) if state_json else {}
        out.append(
            {
                "name": name,
                "warehouse": spec["warehouse"],
                "table": spec["table"],
                "type": spec["type"],
                "mode": spec["mode"],
                "every": spec.get("every"),
                "watermark": state.get("watermark"),
                "last_run": last.isoformat() if last else None,
                "last_status": status,
                "last_error": error,
                **(
                    {"snapshot_at": state.get("snapshot_at"), "mirror": state.get("last_run")}
                    if spec["mode"] == "mirror"
                    else {}
                ),
            }
        )
    return out


def get_sync(store: DuckDBStore, project_id: int, name: str) -> dict[str, Any]:
    spec = _spec(store, project_id, name)
    if spec is None:
        raise NotFound(f'no sync named "{name}"; `driftline sync list` shows them')
    return spec


def delete_sync(writer: GroupCommitWriter, project_id: int, name: str) -> dict[str, Any]:
    writer.write(DeleteSync(project_id, name))
    return {"name": name, "deleted": True}
