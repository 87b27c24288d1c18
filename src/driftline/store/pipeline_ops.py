"""Write ops for data pipelines: their specs, their state (watermarks) and their runs.

A pipeline's state and the history row of the step that moved it are written in one
transaction, so the watermark and the history never disagree.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb

from driftline.errors import AlreadyExists, NotFound
from driftline.model import WriteResult

RUN_COLUMNS = (
    "run_id",
    "window_start",
    "window_end",
    "started_at",
    "finished_at",
    "status",
    "error",
    "events_in_store",
    "events_exported",
    "files",
)


class _PipelineOp:
    """One pipeline's row, written alone (never merged with other writes)."""

    rows = 1
    mergeable = False

    def __init__(self, project_id: int, name: str) -> None:
        self.project_id = project_id
        self.name = name

    def _state(self, conn: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
        """The pipeline's stored state, or None when there is no such pipeline."""
        row = conn.execute(
            "SELECT state FROM pipelines WHERE project_id = ? AND name = ?",
            [self.project_id, self.name],
        ).fetchone()
        return None if row is None else dict(json.loads(row[0] or "{}"))

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        return None


class CreatePipeline(_PipelineOp):
    def __init__(
        self,
        project_id: int,
        name: str,
        spec: dict[str, Any],
        state: dict[str, Any],
        max_event_pipelines: int | None = None,
    ) -> None:
        super().__init__(project_id, name)
        self.spec = spec
        self.state = state
        self.max_event_pipelines = max_event_pipelines

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        if self._state(conn) is not None:
            raise AlreadyExists(f"a pipeline named {self.name!r} already exists in this project")
        if self.max_event_pipelines is not None:
            names = [
                str(name)
                for (name,) in conn.execute(
                    "SELECT name FROM pipelines WHERE project_id = ? AND spec->>'data' = 'events' "
                    "ORDER BY created_at, name",
                    [self.project_id],
                ).fetchall()
            ]
            if len(names) >= self.max_event_pipelines:
                listed = ", ".join(repr(n) for n in names)
                raise AlreadyExists(
                    f"this project already has {len(names)} event pipelines, {listed} (at most "
                    f"{self.max_event_pipelines}); free a slot with `driftline pipeline delete "
                    f"NAME`, e.g. `driftline pipeline delete {names[0]}`"
                )
        conn.execute(
            "INSERT INTO pipelines (project_id, name, spec, state, created_at) VALUES (?, ?, ?, ?, ?)",
            [self.project_id, self.name, json.dumps(self.spec), json.dumps(self.state), now],
        )
        return WriteResult(rows=1, stored=1, committed_at=now)


class DeletePipeline(_PipelineOp):
    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        row = conn.execute(
            "DELETE FROM pipelines WHERE project_id = ? AND name = ? RETURNING 1",
            [self.project_id, self.name],
        ).fetchall()
        if not row:
            raise NotFound(f"no pipeline named {self.name!r}; `driftline pipeline list` shows them")
        conn.execute(
            "DELETE FROM pipeline_runs WHERE project_id = ? AND pipeline_name = ?",
            [self.project_id, self.name],
        )
        return WriteResult(rows=1, stored=1, committed_at=now)


class UpdatePipelineSpec(_PipelineOp):
    """Replace a pipeline's declared spec; its state (watermark, history) stays."""

    def __init__(self, project_id: int, name: str, spec: dict[str, Any]) -> None:
        super().__init__(project_id, name)
        self.spec = spec

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        if self._state(conn) is None:
            raise NotFound(f"pipeline {self.name!r} was deleted")
        conn.execute(
            "UPDATE pipelines SET spec = ? WHERE project_id = ? AND name = ?",
            [json.dumps(self.spec), self.project_id, self.name],
        )
        return WriteResult(rows=1, stored=1, committed_at=now)


class RecordPipelineStep(_PipelineOp):
    """Set a pipeline's state and insert or update one history row, atomically.

    ``expect_version`` guards against two writers moving the same pipeline: the state's
    ``version`` must still be the one the step started from.
    """

    def __init__(
        self,
        project_id: int,
        name: str,
        state: dict[str, Any] | None,
        run: dict[str, Any] | None = None,
        expect_version: int | None = None,
    ) -> None:
        super().__init__(project_id, name)
        self.state = state
        self.run = run
        self.expect_version = expect_version

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        stored = self._state(conn)
        if stored is None:
            raise NotFound(f"pipeline {self.name!r} was deleted")
        if self.expect_version is not None:
            current = stored.get("version", 0)
            if current != self.expect_version:
                raise AlreadyExists(
                    f"pipeline {self.name!r} was moved by another run (state {current}, expected "
                    f"{self.expect_version}); run it again"
                )
        if self.state is not None:
            conn.execute(
                "UPDATE pipelines SET state = ? WHERE project_id = ? AND name = ?",
                [json.dumps(self.state), self.project_id, self.name],
            )
        if self.run is not None:
            values = [self.run.get(c) for c in RUN_COLUMNS]
            values[RUN_COLUMNS.index("files")] = json.dumps(self.run.get("files"))
            conn.execute(
                f"""INSERT OR REPLACE INTO pipeline_runs (project_id, pipeline_name, {", ".join(RUN_COLUMNS)})
                    VALUES (?, ?, {", ".join("?" for _ in RUN_COLUMNS)})""",
                [self.project_id, self.name, *values],
            )
        return WriteResult(rows=1, stored=1, committed_at=now)
