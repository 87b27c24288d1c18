"""The pipeline scheduler inside `driftline serve`: runs each due pipeline one step at a
time, one step per project at a time, fairly, with retries and backoff."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any

from driftline.config import PipelineSettings
from driftline.errors import DriftlineError
from driftline.pipelines.catalog import Catalog
from driftline.pipelines.engine import PipelineEngine
from driftline.pipelines.scheduler import Backoff, FairQueue, due_until
from driftline.pipelines.steps import utc_now

log = logging.getLogger("driftline.pipelines")


class PipelineScheduler:
    def __init__(self, state: Any, settings: PipelineSettings) -> None:
        self.state = state
        self.settings = settings
        self.engine = PipelineEngine(state.store, state.writer)
        self.catalog = Catalog(state.store, state.writer)
        self.backoff = Backoff(settings.retry_base_seconds, settings.retry_max_seconds)
        self.queue = FairQueue()
        self.busy: set[int] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="driftline-pipeline-scheduler")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        # a step in progress finishes (or is resumed by the next start)
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=120)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                self.dispatch(utc_now())
            except Exception:  # the scheduler must outlive any one bad pipeline
                log.exception("pipeline scheduler pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)

    def dispatch(self, now: dt.datetime) -> None:
        delay = dt.timedelta(seconds=self.settings.delay_seconds)
        for project in self.state.store.list_projects():
            if len(self.busy) >= self.settings.max_parallel:
                return
            if project.id in self.busy:
                continue
            due: dict[str, dt.datetime] = {}
            for pipeline in self.catalog.list(project.id):
                key = (project.id, pipeline.name)
                until = due_until(pipeline, project.timezone, now, delay)
                if until is not None and self.backoff.ready(key, now):
                    due[pipeline.name] = until
            name = self.queue.pick(project.id, sorted(due))
            if name is None:
                continue
            self.queue.mark(project.id, name, now)
            self.busy.add(project.id)
            task = asyncio.create_task(self._step(project, name, due[name]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _step(self, project: Any, name: str, until: dt.datetime) -> None:
        key = (project.id, name)
        try:
            await asyncio.to_thread(self.engine.run, project, name, until=until, max_steps=1)
            self.backoff.succeeded(key)
        except DriftlineError as exc:
            wait = self.backoff.failed(key, utc_now())
            log.warning(
                "pipeline %s (project %s) failed: %s; retrying in %.0fs",
                name,
                project.id,
                exc.message,
                wait,
            )
        except Exception:
            wait = self.backoff.failed(key, utc_now())
            log.exception(
                "pipeline %s (project %s) failed; retrying in %.0fs", name, project.id, wait
            )
        finally:
            self.busy.discard(project.id)
            self._wake.set()


def create(state: Any) -> PipelineScheduler | None:
    settings = PipelineSettings()
    if not settings.scheduler:
        return None
    return PipelineScheduler(state, settings)
