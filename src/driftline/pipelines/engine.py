"""The pipeline engine: plan a step, record it, write it, then move the watermark.

Exactly once, with the store's export clock (``ingested_at``, strictly increasing per
commit, and :meth:`~driftline.store.DuckDBStore.ingest_horizon`):

1. A pipeline's *cutoff* splits the store in two. Events committed before it are *history*,
   exported by ``backfill`` chunks over event-time ranges; events committed from it on are
   exported by ``sync`` steps over ingest-time windows ``[watermark, end)``, with ``end`` never
   past the ingest horizon, so no commit can still land inside a window being exported.
2. Before writing, the step is recorded (``in_flight``, with its range and planned
   partitions) together with a ``running`` history row. A process killed at any point
   leaves that record; the next run resumes the *same* step, which writes the same file names
   with the same content (sorted by a hash of the event key, gzip with mtime 0), removes any
   part an earlier attempt wrote that this one did not, and rewrites the markers.
3. Only after files and markers does one transaction move the watermark (or mark the
   backfill chunk done) and finish the history row.

Crash points (for kill tests): ``before_files``, ``between_files``, ``before_marker``,
``before_watermark``; set ``DRIFTLINE_PIPELINE_CRASH_AT`` to one of them to have the
process SIGKILL itself there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from driftline.errors import DriftlineError, InvalidInput, NotFound, TerminalError
from driftline.model import Project
from driftline.pipelines import snapshots
from driftline.pipelines.bucket_export import BucketExport
from driftline.pipelines.catalog import Catalog, Pipeline
from driftline.pipelines.destinations import Bucket, open_destination, redact
from driftline.pipelines.encode import histogram, plan_units
from driftline.pipelines.layout import Clock
from driftline.pipelines.ranges import merge_ranges, plan_chunks, subtract_ranges
from driftline.pipelines.spec import DataKind, PipelineSpec
from driftline.pipelines.steps import Outcome, Step, from_iso, to_iso, utc_now

CRASH_ENV = "DRIFTLINE_PIPELINE_CRASH_AT"
CRASH_POINTS = ("before_files", "between_files", "before_marker", "before_watermark")

_REPLACE_HINT = "delete it first (`driftline pipeline delete {0}`) or give it a new name"
#: spec fields that decide what lands where; ``driftline apply`` will not change them in place
_FIXED_FIELDS = (
    ("data", _REPLACE_HINT),
    ("frequency", _REPLACE_HINT),
    ("from_date", "to export earlier days, run `driftline pipeline backfill {0} --from DATE`"),
)

#: one pipeline step per project at a time, across every caller in this process
_project_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def project_lock(project_id: int) -> threading.Lock:
    with _locks_guard:
        return _project_locks.setdefault(project_id, threading.Lock())


def crash_from_env(point: str) -> None:
    wanted = os.environ.get(CRASH_ENV, "")
    if wanted and point in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)


class PipelineEngine:
    def __init__(
        self,
        store: Any,
        writer: Any,
        *,
        crash: Callable[[str], None] = crash_from_env,
        group_rows: int = 1_000_000,
        part_rows: int = 250_000,
        threads: int = 2,
        chunk_rows: int = 2_000_000,
    ) -> None:
        self.store = store
        self.catalog = Catalog(store, writer)
        self.crash = crash
        self.group_rows = group_rows
        self.part_rows = part_rows
        self.threads = threads
        self.chunk_rows = chunk_rows

    # ------------------------------------------------------------------ declare
    def add(self, project: Project, spec: PipelineSpec, *, check: bool = True) -> dict[str, Any]:
        """Create a pipeline; the destination is opened and probed first."""
        if check:
            with self._destination(spec) as dest:
                dest.check()
        clock = Clock(spec.frequency, project.timezone)
        # everything committed before the cutoff is history (backfill); after it, sync steps
        cutoff = self.store.ingest_horizon()
        state: dict[str, Any] = {"version": 0}
        if spec.data is DataKind.EVENTS:
            lo = clock.day_start(dt.date.fromisoformat(spec.from_date)) if spec.from_date else None
            state.update(
                cutoff=to_iso(cutoff),
                watermark=to_iso(cutoff),
                covered=[],
                history={"ranges": [[to_iso(lo), None]], "chunks": None, "done": 0},
            )
        self.catalog.create(project.id, spec, state)
        return self.describe(self.catalog.get(project.id, spec.name))

    def delete(self, project: Project, name: str) -> dict[str, Any]:
        self.catalog.delete(project.id, name)
        return {"deleted": name}

    def declare(
        self, project: Project, spec: PipelineSpec, *, check: bool = True
    ) -> dict[str, Any]:
        """Make the pipeline match ``spec`` (``driftline apply``); ``applied`` says how:
        created, unchanged, updated (``sync`` only) or replaced (a new destination gets an
        export of its own). Changing what is written into the same destination is refused:
        the events exported already would be written again."""
        try:
            old = self.catalog.get(project.id, spec.name).spec
        except NotFound:
            return dict(self.add(project, spec, check=check), applied="created")
        if old == spec:
            return dict(self.describe(self.catalog.get(project.id, spec.name)), applied="unchanged")
        if old.destination != spec.destination:
            if check:
                with self._destination(spec) as dest:
                    dest.check()
            self.catalog.delete(project.id, spec.name)
            return dict(self.add(project, spec, check=False), applied="replaced")
        for field, hint in _FIXED_FIELDS:
            if getattr(old, field) != getattr(spec, field):
                raise InvalidInput(
                    f"pipeline {spec.name!r}: {field} cannot change while the destination stays "
                    f"the same (exported events would be written again); {hint.format(spec.name)}",
                    field=field,
                )
        self.catalog.update_spec(project.id, spec)
        return dict(self.describe(self.catalog.get(project.id, spec.name)), applied="updated")

    def list(self, project: Project) -> list[dict[str, Any]]:
        return [self.describe(p) for p in self.catalog.list(project.id)]

    def describe(self, pipeline: Pipeline) -> dict[str, Any]:
        spec, state = pipeline.spec, pipeline.state
        history = state.get("history")
        pending = None
        if history:
            chunks = history.get("chunks")
            pending = (
                f"{history.get('done', 0)}/{len(chunks)} chunks"
                if chunks is not None
                else "planned"
            )
        return {
            "name": spec.name,
            "destination": redact(spec.destination),
            "data": str(spec.data),
            "frequency": str(spec.frequency),
            "sync": spec.sync,
            "from": spec.from_date,
            "watermark": state.get("watermark") or state.get("asof"),
            "backfill": pending,
            "in_flight": bool(state.get("in_flight")),
            "created_at": to_iso(pipeline.created_at),
        }

    # ------------------------------------------------------------------ run
    def run(
        self,
        project: Project,
        name: str,
        *,
        until: dt.datetime | None = None,
        max_steps: int | None = None,
        backfill_only: bool = False,
        on_rows: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Run steps until the pipeline has exported everything committed before ``until``
        (default: now), or ``max_steps`` steps. Pending backfill chunks go first."""
        done: list[dict[str, Any]] = []
        while max_steps is None or len(done) < max_steps:
            with project_lock(project.id):
                pipeline = self.catalog.get(project.id, name)
                step = self._next_step(project, pipeline, until, backfill_only)
                if step is None:
                    break
                done.append(self._execute(project, pipeline, step, on_rows))
            if step.kind == "snapshot":
                break  # one full snapshot per run
        pipeline = self.catalog.get(project.id, name)
        return {
            "pipeline": name,
            "data": str(pipeline.spec.data),
            "steps": done,
            "events_exported": sum(s["events_exported"] or 0 for s in done),
            "pending": self._has_work(project, pipeline, until),
            "watermark": pipeline.state.get("watermark") or pipeline.state.get("asof"),
        }

    def backfill(
        self, project: Project, name: str, from_date: dt.date, to_date: dt.date | None
    ) -> dict[str, Any]:
        """Plan a backfill of history with event days [from, to] (project timezone)."""
        pipeline = self.catalog.get(project.id, name)
        if pipeline.spec.data is not DataKind.EVENTS:
            raise InvalidInput(
                f"pipeline {name!r} exports {pipeline.spec.data}, a full snapshot each run; "
                "backfill applies to event pipelines",
                field="name",
            )
        if to_date is not None and to_date < from_date:
            raise InvalidInput(f"--to {to_date} is before --from {from_date}", field="to_date")
        clock = self._clock(project, pipeline)
        lo = clock.day_start(from_date)
        hi = clock.day_start(to_date + dt.timedelta(days=1)) if to_date else None
        state = dict(pipeline.state)
        history = state.get("history")
        busy = list((history or {}).get("ranges", []))
        wanted = subtract_ranges([[lo, hi]], [*state.get("covered", []), *busy])
        if not wanted:
            return {"pipeline": name, "planned": False, "reason": "already exported or planned"}
        ranges = merge_ranges([*busy, *[[to_iso(a), to_iso(b)] for a, b in wanted]])
        # chunks already done are in ``covered``: planning again leaves them out
        state["history"] = {"ranges": ranges, "chunks": None, "done": 0}
        self.catalog.record(pipeline, state)
        return {"pipeline": name, "planned": True, "ranges": ranges}

    def progress(self, project: Project, name: str) -> dict[str, Any]:
        pipeline = self.catalog.get(project.id, name)
        history = pipeline.state.get("history") or {}
        chunks = history.get("chunks") or []
        return {
            "chunks": len(chunks),
            "done": int(history.get("done", 0)),
            "events": sum(int(c[2]) for c in chunks) if chunks else 0,
            "events_done": sum(int(c[2]) for c in chunks[: int(history.get("done", 0))]),
        }

    # ------------------------------------------------------------------ planning
    def _clock(self, project: Project, pipeline: Pipeline) -> Clock:
        return Clock(pipeline.spec.frequency, project.timezone)

    def _horizon(self, until: dt.datetime | None) -> dt.datetime:
        horizon = self.store.ingest_horizon()
        return min(until, horizon) if until is not None else horizon

    def _has_work(self, project: Project, pipeline: Pipeline, until: dt.datetime | None) -> bool:
        state = pipeline.state
        if state.get("in_flight") or state.get("history"):
            return True
        if pipeline.spec.data is not DataKind.EVENTS:
            return False
        watermark = from_iso(state.get("watermark"))
        end = self._horizon(until)
        rows = self.store.query_rows(
            "SELECT count(*) FROM events WHERE project_id = ? AND ingested_at >= ? AND ingested_at < ?",
            [project.id, watermark, end],
        )
        return bool(rows[0][0])

    def _next_step(
        self,
        project: Project,
        pipeline: Pipeline,
        until: dt.datetime | None,
        backfill_only: bool = False,
    ) -> Step | None:
        state = pipeline.state
        if state.get("in_flight"):
            return Step.from_json(state["in_flight"]).retry()
        if backfill_only:
            return self._next_backfill(project, pipeline) if state.get("history") else None
        if pipeline.spec.data is not DataKind.EVENTS:
            end = self._horizon(until)
            return Step("snapshot", from_iso(state.get("asof")), end, started_at=utc_now())
        if state.get("history"):
            step = self._next_backfill(project, pipeline)
            if step is not None:
                return step
        return self._next_sync(project, pipeline, until)

    def _next_sync(
        self, project: Project, pipeline: Pipeline, until: dt.datetime | None
    ) -> Step | None:
        state = pipeline.state
        start = from_iso(state["watermark"])
        end = self._horizon(until)
        if start is None or end <= start:
            return None
        rows = self.store.query_rows(
            "SELECT min(ingested_at) FROM events WHERE project_id = ? AND ingested_at >= ? AND ingested_at < ?",
            [project.id, start, end],
        )
        first = rows[0][0]
        clock = self._clock(project, pipeline)
        if first is None:
            # nothing committed in [start, end): move on without a step
            self.catalog.record(pipeline, dict(state, watermark=to_iso(end)))
            return None
        step_end = min(end, clock.next_boundary(first))
        return Step("sync", start, step_end, started_at=utc_now(), drop_late=not pipeline.spec.sync)

    def _next_backfill(self, project: Project, pipeline: Pipeline) -> Step | None:
        state = dict(pipeline.state)
        history = dict(state["history"])
        clock = self._clock(project, pipeline)
        cutoff = from_iso(state["cutoff"])
        if history.get("chunks") is None:
            chunks: list[list[Any]] = []
            todo = subtract_ranges(history["ranges"], state.get("covered", []))
            for lo, hi in todo:
                counts = histogram(
                    self.store,
                    clock,
                    Step("backfill", lo, hi, cutoff=cutoff).selection(project.id),
                )
                chunks.extend(plan_chunks(clock, counts, self.chunk_rows, lo, hi))
            history["chunks"] = chunks
            history["done"] = 0
            state["history"] = history
            self.catalog.record(pipeline, state)
        chunks = history["chunks"]
        done = int(history.get("done", 0))
        if done >= len(chunks):
            covered = merge_ranges([*state.get("covered", []), *history["ranges"]])
            self.catalog.record(pipeline, dict(state, history=None, covered=covered))
            return None
        lo, hi, _count = chunks[done]
        return Step("backfill", from_iso(lo), from_iso(hi), started_at=utc_now(), cutoff=cutoff)

    # ------------------------------------------------------------------ execute
    @contextlib.contextmanager
    def _destination(self, spec: PipelineSpec) -> Iterator[Any]:
        dest = open_destination(spec.destination)
        try:
            yield dest
        finally:
            dest.close()

    def _execute(
        self,
        project: Project,
        pipeline: Pipeline,
        step: Step,
        on_rows: Callable[[int], None] | None,
    ) -> dict[str, Any]:
        clock = self._clock(project, pipeline)
        spec = pipeline.spec
        plan = None
        if spec.data is DataKind.EVENTS:
            plan = plan_units(
                histogram(self.store, clock, step.selection(project.id)), self.group_rows
            )
            step = replace(
                step,
                planned=tuple(sorted(set(step.planned) | set(plan.partitions))),
                events_in_store=plan.rows,
            )
        run = self._run_row(step, status="running")
        self.catalog.record(pipeline, dict(pipeline.state, in_flight=step.to_json()), run)
        try:
            self.crash("before_files")
            with self._destination(spec) as dest:
                outcome = self._write(project, pipeline, dest, clock, step, plan, on_rows)
        except DriftlineError as exc:
            self._record_failure(pipeline, step, exc.message)
            raise
        except Exception as exc:  # a driver's error that no connector mapped
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            self._record_failure(pipeline, step, message)
            raise TerminalError(f"pipeline {pipeline.name!r}: {message}") from exc
        self.crash("before_watermark")
        state = dict(pipeline.state, in_flight=None)
        if step.kind == "sync":
            state["watermark"] = to_iso(step.end)
        elif step.kind == "backfill":
            history = dict(state["history"])
            history["done"] = int(history.get("done", 0)) + 1
            state["history"] = history
            chunk = [to_iso(step.start), to_iso(step.end)]
            state["covered"] = merge_ranges([*state.get("covered", []), chunk])
        else:
            state["asof"] = to_iso(step.end)
            state["snapshot"] = outcome.detail.get("names", [])
        status = "ok"
        error = None
        if step.kind != "snapshot" and outcome.rows != step.events_in_store:
            status = "mismatch"
            error = (
                f"{step.events_in_store} events in the store for this window when it was planned, "
                f"{outcome.rows} exported (events were deleted or replaced during the step)"
            )
        final = self._run_row(step, status=status, error=error, outcome=outcome)
        self.catalog.record(pipeline, state, final)
        return final

    def _write(
        self,
        project: Project,
        pipeline: Pipeline,
        dest: Any,
        clock: Clock,
        step: Step,
        plan: Any,
        on_rows: Callable[[int], None] | None,
    ) -> Outcome:
        data = pipeline.spec.data
        if isinstance(dest, Bucket):
            export = BucketExport(
                dest, group_rows=self.group_rows, part_rows=self.part_rows, threads=self.threads
            )
            if data is DataKind.EVENTS:
                return export.write_events(
                    self.store, clock, project.id, step, plan, self.crash, on_rows
                )
            lines = snapshots.render(self.store, data, project.id, step.end)
            return export.write_snapshot(
                data,
                project.id,
                step,
                lines,
                list(pipeline.state.get("snapshot") or []),
                self.crash,
            )
        from driftline.pipelines.warehouse_export import WarehouseExport

        wexport = WarehouseExport(dest)
        if data is DataKind.EVENTS:
            return wexport.write_events(
                self.store, clock, project, step, plan, self.crash, self.group_rows, on_rows
            )
        return wexport.write_snapshot(self.store, data, project, step, self.crash)

    def _record_failure(self, pipeline: Pipeline, step: Step, message: str) -> None:
        with contextlib.suppress(DriftlineError):
            self.catalog.record(pipeline, None, self._run_row(step, status="failed", error=message))

    def _run_row(
        self, step: Step, *, status: str, error: str | None = None, outcome: Outcome | None = None
    ) -> dict[str, Any]:
        finished = status != "running"
        files: dict[str, Any] = {
            "kind": step.kind,
            "key": step.key,
            "attempts": step.attempts,
            "cutoff": to_iso(step.cutoff),
            "drop_late": step.drop_late,
        }
        if outcome is not None:
            files.update(
                files=outcome.files, bytes=outcome.bytes, partitions=len(outcome.partitions)
            )
        return {
            "run_id": step.run_id,
            "window_start": step.start,
            "window_end": step.end,
            "started_at": step.started_at or utc_now(),
            "finished_at": utc_now() if finished else None,
            "status": status,
            "error": error,
            "events_in_store": step.events_in_store
            if step.kind != "snapshot"
            else (outcome.rows if outcome else None),
            "events_exported": outcome.rows if outcome else None,
            "files": files,
        }
