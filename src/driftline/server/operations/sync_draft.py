"""Preview a sync before it is saved: the web UI's "new sync" form shows the mapping, the
first rows as they will land and the row count, and writes nothing."""

from __future__ import annotations

from typing import Any

from driftline.errors import InvalidInput
from driftline.server.operations.sync import parse_spec
from driftline.server.ops import Context, operation
from driftline.sync import engine


@operation("sync.preview_draft")
def sync_preview_draft(
    ctx: Context, spec: dict[str, Any], project: str | None = None, rows: int = 10
) -> dict[str, Any]:
    if not 0 < rows <= 1000:
        raise InvalidInput("rows must be between 1 and 1000", field="rows")
    pid = ctx.store.get_project(None if project is None else str(project)).id
    parsed = parse_spec(spec).check()
    url = engine.warehouse_url(ctx.store, pid, parsed.warehouse)
    return engine.preview_sync(engine.SyncDefinition(pid, parsed, url, {}), rows=rows)
