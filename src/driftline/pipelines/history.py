"""`pipeline history`: every step, oldest first, reconciled against the store *now*.

For each step the store is counted again with the step's own selection. When that count
differs from what the step exported, the row says ``mismatch`` with both numbers: events
were deleted (a mirror sync, a GDPR deletion) or replaced by a later duplicate after the
step ran. The destination still holds what was exported; nothing is silently missing.
"""

from __future__ import annotations

from typing import Any

from driftline.pipelines.catalog import Catalog
from driftline.pipelines.layout import Clock
from driftline.pipelines.steps import Step, from_iso


def history(
    catalog: Catalog, project_id: int, timezone: str, name: str, *, recount: bool = True
) -> list[dict[str, Any]]:
    pipeline = catalog.get(project_id, name)
    clock = Clock(pipeline.spec.frequency, timezone)
    rows = []
    for run in catalog.runs(project_id, name):
        info = run.pop("files") or {}
        kind = info.get("kind", "sync")
        exported = run["events_exported"]
        row: dict[str, Any] = {
            "run_id": run["run_id"],
            "kind": kind,
            "window_start": run["window_start"],
            "window_end": run["window_end"],
            "started_at": run["started_at"],
            "finished_at": run["finished_at"],
            "status": run["status"],
            "error": run["error"],
            "events_in_store": run["events_in_store"],
            "events_exported": exported,
            "files": info.get("files", 0),
            "bytes": info.get("bytes", 0),
            "rows_read": run["events_in_store"],
            "inserted": exported or 0,
            "updated": 0,
            "deleted": 0,
            "attempts": info.get("attempts", 1),
        }
        if recount and kind in ("sync", "backfill") and run["status"] in ("ok", "mismatch"):
            step = Step(
                kind,
                run["window_start"],
                run["window_end"],
                cutoff=from_iso(info.get("cutoff")),
                drop_late=bool(info.get("drop_late")),
            )
            where, params = step.selection(project_id).where(clock)
            now = int(
                catalog.store.query_rows(f"SELECT count(*) FROM events WHERE {where}", params)[0][0]
            )
            row["events_in_store"] = now
            if now != exported:
                row["status"] = "mismatch"
                row["error"] = (
                    f"the store now has {now} events for this window and {exported} were exported; "
                    + (
                        "events were deleted or replaced after the export"
                        if now < (exported or 0)
                        else "events were added to this window after the export"
                    )
                )
        rows.append(row)
    return rows
