"""Pipelines as stored: spec and state in ``pipelines``, one row per step in ``pipeline_runs``.

Reads go through the store's read interface; writes are ops on the single writer
(:mod:`driftline.store.pipeline_ops`), so a state change and its history row commit together.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from driftline.errors import NotFound
from driftline.pipelines.spec import MAX_EVENT_PIPELINES, DataKind, PipelineSpec
from driftline.store.pipeline_ops import (
    RUN_COLUMNS,
    CreatePipeline,
    DeletePipeline,
    RecordPipelineStep,
    UpdatePipelineSpec,
)


@dataclass
class Pipeline:
    project_id: int
    spec: PipelineSpec
    state: dict[str, Any] = field(default_factory=dict)
    created_at: dt.datetime | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> int:
        return int(self.state.get("version", 0))


class Catalog:
    def __init__(self, store: Any, writer: Any) -> None:
        self.store = store
        self.writer = writer

    def get(self, project_id: int, name: str) -> Pipeline:
        rows = self.store.query_rows(
            "SELECT spec, state, created_at FROM pipelines WHERE project_id = ? AND name = ?",
            [project_id, name],
        )
        if not rows:
            known = [p.name for p in self.list(project_id)]
            hint = f"; pipelines are: {', '.join(known)}" if known else "; none exists yet"
            raise NotFound(f"no pipeline named {name!r}{hint}")
        spec, state, created = rows[0]
        return Pipeline(
            project_id, PipelineSpec.from_json(json.loads(spec)), json.loads(state or "{}"), created
        )

    def list(self, project_id: int | None = None) -> list[Pipeline]:
        sql = "SELECT project_id, spec, state, created_at FROM pipelines"
        params: list[Any] = []
        if project_id is not None:
            sql += " WHERE project_id = ?"
            params.append(project_id)
        rows = self.store.query_rows(sql + " ORDER BY project_id, created_at, name", params)
        return [
            Pipeline(
                int(pid),
                PipelineSpec.from_json(json.loads(spec)),
                json.loads(state or "{}"),
                created,
            )
            for pid, spec, state, created in rows
        ]

    def create(self, project_id: int, spec: PipelineSpec, state: dict[str, Any]) -> None:
        limit = MAX_EVENT_PIPELINES if spec.data is DataKind.EVENTS else None
        self.writer.write(CreatePipeline(project_id, spec.name, spec.to_json(), state, limit))

    def delete(self, project_id: int, name: str) -> None:
        self.writer.write(DeletePipeline(project_id, name))

    def update_spec(self, project_id: int, spec: PipelineSpec) -> None:
        self.writer.write(UpdatePipelineSpec(project_id, spec.name, spec.to_json()))

    def record(
        self, pipeline: Pipeline, state: dict[str, Any] | None, run: dict[str, Any] | None = None
    ) -> None:
        """Write a new state (its version one up) and/or a history row, atomically."""
        new_state = None
        if state is not None:
            new_state = dict(state, version=pipeline.version + 1)
        self.writer.write(
            RecordPipelineStep(
                pipeline.project_id, pipeline.name, new_state, run, expect_version=pipeline.version
            )
        )
        if new_state is not None:
            pipeline.state = new_state

    def runs(self, project_id: int, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        sql = f"""SELECT {", ".join(RUN_COLUMNS)} FROM pipeline_runs
                  WHERE project_id = ? AND pipeline_name = ? ORDER BY started_at, run_id"""
        rows = self.store.query_rows(sql, [project_id, name])
        if limit is not None:
            rows = rows[-limit:]
        out = []
        for row in rows:
            run = dict(zip(RUN_COLUMNS, row, strict=True))
            run["files"] = json.loads(run["files"]) if run["files"] else {}
            out.append(run)
        return out
