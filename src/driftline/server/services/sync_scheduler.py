"""Runs scheduled syncs (``--every 1h|1d|1w``) inside `driftline serve`.

Every ``tick`` seconds it asks :func:`driftline.sync.scheduler.due_syncs` what is due and
starts those runs on their own threads (one run per sync at a time; transient errors
retried with exponential backoff). Stopping the server cancels runs in flight: they commit
nothing, and the next run starts from the same watermark.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any

from driftline.errors import AlreadyExists
from driftline.sync.runs import ActiveRuns, RetryPolicy
from driftline.sync.scheduler import due_syncs

log = logging.getLogger("driftline.sync.scheduler")

TICK_SECONDS = 15.0
RETRY = RetryPolicy(attempts=4, base_seconds=30.0, max_seconds=600.0)


class SyncScheduler:
    def __init__(self, state: Any, tick: float = TICK_SECONDS) -> None:
        self.state = state
        self.tick = tick
        self._task: asyncio.Task[None] | None = None

    @property
    def runs(self) -> ActiveRuns:
        return ActiveRuns.for_store(self.state.store, self.state.writer)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="driftline-sync-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.runs.stop_all, 30.0)

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_due)
            except Exception:
                log.exception("checking scheduled syncs failed")
            await asyncio.sleep(self.tick)

    def run_due(self) -> list[str]:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        started = []
        for due in due_syncs(self.state.store, now):
            if self.runs.running(due.project_id, due.name):
                continue
            try:
                self.runs.start(due.project_id, due.name, RETRY)
                started.append(due.name)
                log.info("sync %s started (every %s)", due.name, due.every)
            except AlreadyExists:
                continue
        return started


def create(state: Any) -> SyncScheduler:
    return SyncScheduler(state)
