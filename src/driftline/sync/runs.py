"""Runs in progress: at most one per sync, on a thread of their own, with live progress.

The process that owns the store keeps one :class:`ActiveRuns` per store. ``driftline sync
run`` (through a running server or in-process), ``POST /api/v1/syncs/{name}/run`` and the
scheduler all start runs here, so a sync never runs twice at once, and anyone can ask how
far a run has got.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from driftline.errors import AlreadyExists, TransientError
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.sync.engine import Progress, run_sync

log = logging.getLogger("driftline.sync")

_registries: weakref.WeakKeyDictionary[DuckDBStore, ActiveRuns] = weakref.WeakKeyDictionary()
_registries_lock = threading.Lock()


@dataclass
class _Run:
    progress: Progress
    thread: threading.Thread
    cancel: threading.Event
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Transient errors (network, locks, throttling) are retried with exponential backoff."""

    attempts: int = 1
    base_seconds: float = 30.0
    max_seconds: float = 600.0

    def delay(self, attempt: int) -> float:
        jitter = 0.8 + 0.4 * random.random()
        return min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1)) * jitter


class ActiveRuns:
    def __init__(self, store: DuckDBStore, writer: GroupCommitWriter) -> None:
        self.store = store
        self.writer = writer
        self._lock = threading.Lock()
        self._runs: dict[tuple[int, str], _Run] = {}

    @classmethod
    def for_store(cls, store: DuckDBStore, writer: GroupCommitWriter) -> ActiveRuns:
        with _registries_lock:
            runs = _registries.get(store)
            if runs is None or runs.writer is not writer:
                old = runs
                runs = cls(store, writer)
                if old is not None:  # a new writer on the same store: keep runs in flight
                    runs._runs = old._runs
                _registries[store] = runs
            return runs

    def start(self, project_id: int, name: str, retry: RetryPolicy | None = None) -> Progress:
        """Start a run on its own thread; :class:`AlreadyExists` if one is running."""
        key = (project_id, name)
        with self._lock:
            current = self._runs.get(key)
            if current is not None and current.thread.is_alive():
                raise AlreadyExists(
                    f'sync "{name}" is already running (run {current.progress.run_id}); '
                    "wait for it to finish"
                )
            progress = Progress(name)
            cancel = threading.Event()
            run = _Run(progress, threading.Thread(), cancel)
            run.thread = threading.Thread(
                target=self._work, args=(key, run, retry or RetryPolicy()), name=f"sync-{name}",
                daemon=True,
            )  # fmt: skip
            self._runs[key] = run
            run.thread.start()
            return progress

    def _work(self, key: tuple[int, str], run: _Run, retry: RetryPolicy) -> None:
        attempt = 1
        while True:
            progress = Progress(key[1])
            run.progress = progress
            try:
                run.result = run_sync(
                    self.store, self.writer, key[0], key[1], progress=progress, cancel=run.cancel
                )
                return
            except TransientError as exc:
                if attempt >= retry.attempts or run.cancel.is_set():
                    log.warning("sync %s failed: %s", key[1], exc)
                    return
                delay = retry.delay(attempt)
                log.warning(
                    "sync %s: %s; retrying in %.0fs (attempt %d of %d)",
                    key[1], exc, delay, attempt + 1, retry.attempts,
                )  # fmt: skip
                attempt += 1
                if run.cancel.wait(delay):
                    return
            except Exception as exc:  # recorded in the run's history row already
                log.warning("sync %s failed: %s", key[1], exc)
                return

    def status(self, project_id: int, name: str) -> dict[str, Any] | None:
        run = self._runs.get((project_id, name))
        if run is None:
            return None
        out = run.progress.as_dict()
        out["running"] = run.thread.is_alive()
        if run.result is not None and not out["running"]:
            out["result"] = run.result
        return out

    def cancel(self, project_id: int, name: str) -> bool:
        """Ask a run to stop at its next batch; it then commits nothing. False if none runs."""
        run = self._runs.get((project_id, name))
        if run is None or not run.thread.is_alive():
            return False
        run.cancel.set()
        return True

    def running(self, project_id: int, name: str) -> bool:
        run = self._runs.get((project_id, name))
        return run is not None and run.thread.is_alive()

    def wait(
        self, project_id: int, name: str, timeout: float | None = None
    ) -> dict[str, Any] | None:
        run = self._runs.get((project_id, name))
        if run is not None:
            run.thread.join(timeout)
        return self.status(project_id, name)

    def stop_all(self, timeout: float = 30.0) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.cancel.set()
        deadline = time.monotonic() + timeout
        for run in runs:
            run.thread.join(max(0.0, deadline - time.monotonic()))
