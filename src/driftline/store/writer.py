"""The single writer: group commit for every write that reaches the store.

Callers :meth:`~GroupCommitWriter.submit` a write op and get a future that resolves only
after the transaction holding it has committed. The writer thread takes everything that is
waiting (up to ``max_batch_rows``), merges mergeable ops, applies them in one transaction and
resolves every future at once: many concurrent requests, one commit.

Live ingestion ops say how many client requests they carry (``sources``). While the last
group carried several — concurrent clients are waiting — the writer spaces commits of such
ops at least ``min_commit_interval`` apart (default 10 ms): a commit's fixed cost (a few
milliseconds of CPU, whatever its size) is then paid at most a hundred times a second, by
groups that grow with the load, instead of by ever smaller groups that take the CPU the
requests need. An op kind whose commits cost more may ask for a longer spacing
(``commit_interval``: the Snowplow collector's, whose events fill two wide tables). The
interval is also the latency it adds: at 50 ms, 32 clients that each wait for their answer
could not send more than 640 requests a second between them. A lone client, a quiet server
and every other kind of write are committed at once.

Under such load the writer also asks the store to run DuckDB on one thread
(:meth:`DuckDBStore.set_live_load`): each live commit is a few small statements that more
threads only make dearer. The store's own setting comes back once no live group has been
committed for ``LIVE_IDLE`` seconds.

If a group fails, each op in it is retried in a transaction of its own so that one bad op
fails alone and the others are still stored. An op whose failure is its answer (``retry =
False``: a bulk statement that refused its input) is not run again on its own.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from driftline.errors import Backpressure, TerminalError
from driftline.store.duckdb_store import DuckDBStore
from driftline.store.ops import WriteOp

log = logging.getLogger("driftline.writer")

#: seconds without a live group (several client requests) before the store gets its threads back
LIVE_IDLE = 2.0


@dataclass
class _Pending:
    op: WriteOp
    future: Future[Any] = field(default_factory=Future)


@dataclass
class WriterStats:
    commits: int = 0
    rows_committed: int = 0
    events_stored: int = 0
    failures: int = 0


class GroupCommitWriter:
    """One thread that owns all writes to a :class:`DuckDBStore`."""

    def __init__(
        self,
        store: DuckDBStore,
        *,
        max_pending_rows: int = 400_000,
        max_batch_rows: int = 200_000,
        min_commit_interval: float = 0.01,
        on_commit: Callable[[int, int], None] | None = None,
    ) -> None:
        self.store = store
        self.min_commit_interval = min_commit_interval
        self._last_commit_started = 0.0
        self._last_sources = 0
        self._last_live = 0.0  # when the last group of several client requests committed
        self._live = False
        self.max_pending_rows = max_pending_rows
        self.max_batch_rows = max_batch_rows
        self.stats = WriterStats()
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._pending_rows = 0
        self._pending_lock = threading.Lock()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="driftline-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ API
    @property
    def pending_rows(self) -> int:
        return self._pending_rows

    def submit(self, op: WriteOp, *, wait_for_room: bool = False) -> Future[Any]:
        """Queue ``op``; the future resolves after its commit.

        When the queue holds more than ``max_pending_rows`` rows, raise :class:`Backpressure`
        (the HTTP layer turns it into 429 with ``Retry-After``), or with ``wait_for_room``
        block until there is room (bulk imports).
        """
        if self._closing:
            raise TerminalError("the store is shutting down")
        while True:
            with self._pending_lock:
                if self._pending_rows == 0 or self._pending_rows + op.rows <= self.max_pending_rows:
                    self._pending_rows += op.rows
                    break
            if not wait_for_room:
                raise Backpressure(
                    "the writer is behind; retry the request with exponential backoff",
                    retry_after=1,
                )
            time.sleep(0.01)
        pending = _Pending(op)
        self._queue.put(pending)
        return pending.future

    def write(self, op: WriteOp) -> Any:
        """Submit and wait for the commit (waits for room instead of failing)."""
        return self.submit(op, wait_for_room=True).result()

    def close(self, timeout: float = 60.0) -> None:
        """Commit everything queued, then stop the thread."""
        if self._closing:
            return
        self._closing = True
        self._queue.put(None)
        self._thread.join(timeout)

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=LIVE_IDLE) if self._live else self._queue.get()
            except queue.Empty:  # nothing for LIVE_IDLE seconds: the live load is over
                self._set_live(False)
                continue
            if first is None:
                break
            group = [first]
            rows = first.op.rows
            sources = getattr(first.op, "sources", 0)
            # under concurrent live load, wait for more until min_commit_interval has passed
            # since the last commit started; after a quiet spell that moment has passed
            linger = self._last_sources > 1 and sources > 0
            interval = getattr(first.op, "commit_interval", None) or self.min_commit_interval
            not_before = self._last_commit_started + interval
            while rows < self.max_batch_rows:
                wait = not_before - time.monotonic() if linger else 0.0
                try:
                    nxt = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
                rows += nxt.op.rows
                more = getattr(nxt.op, "sources", 0)
                sources += more
                linger = linger and more > 0
            self._last_commit_started = time.monotonic()
            self._last_sources = sources
            self._live_load(sources)
            self._commit(group)

    def _live_load(self, sources: int) -> None:
        """Note a group about to commit; switch the store to live-load mode when it carries
        several client requests, and back when none has for ``LIVE_IDLE`` seconds."""
        now = time.monotonic()
        if sources > 1:
            self._last_live = now
            if not self._live:
                self._set_live(True)
        elif self._live and now - self._last_live >= LIVE_IDLE:
            self._set_live(False)

    def _set_live(self, live: bool) -> None:
        self._live = live
        try:
            self.store.set_live_load(live)
        except Exception:  # a tuning hint: never let it stop the writer
            log.warning("could not switch the store's live-load mode", exc_info=True)

    def _commit(self, group: list[_Pending]) -> None:
        rows = sum(p.op.rows for p in group)
        try:
            results = self._apply_group(group)
        except BaseException as exc:  # whatever an op raises, the writer lives on
            self.stats.failures += 1
            if len(group) == 1:
                if getattr(group[0].op, "retry", True):
                    self._fail(group[0], rows)
                else:  # its failure is an answer (a statement that refused its input)
                    with self._pending_lock:
                        self._pending_rows -= rows
                    group[0].future.set_exception(exc)
                return
            log.warning("group commit of %d ops failed; retrying them one by one", len(group))
            for pending in group:
                self._commit([pending])
            return
        with self._pending_lock:
            self._pending_rows -= rows
        self.stats.commits += 1
        self.stats.rows_committed += rows
        if self._on_commit is not None:
            self._on_commit(len(group), rows)
        for pending, result in zip(group, results, strict=True):
            pending.future.set_result(result)

    def _fail(self, pending: _Pending, rows: int) -> None:
        with self._pending_lock:
            self._pending_rows -= rows
        try:
            self.store.apply([pending.op])
        except BaseException as exc:  # the op's own error reaches its caller
            pending.future.set_exception(exc)
        else:  # pragma: no cover - a transient failure that cleared on retry
            pending.future.set_result(None)

    def _apply_group(self, group: list[_Pending]) -> list[Any]:
        """Merge mergeable ops of the same kind, apply all in one transaction."""
        merged: list[WriteOp] = []
        owners: list[list[int]] = []
        by_kind: dict[type, int] = {}
        for index, pending in enumerate(group):
            kind = type(pending.op)
            if getattr(kind, "mergeable", False) and kind in by_kind:
                owners[by_kind[kind]].append(index)
                continue
            if getattr(kind, "mergeable", False):
                by_kind[kind] = len(merged)
            merged.append(pending.op)
            owners.append([index])
        ops: list[WriteOp] = []
        for op, members in zip(merged, owners, strict=True):
            if len(members) > 1:
                ops.append(type(op).merge([group[i].op for i in members]))  # type: ignore[attr-defined]
            else:
                ops.append(op)
        applied = self.store.apply(ops)
        results: list[Any] = [None] * len(group)
        for result, members in zip(applied, owners, strict=True):
            for i in members:
                results[i] = _share(result, group[i].op) if len(members) > 1 else result
        return results


def _share(result: Any, op: WriteOp) -> Any:
    """The part of a merged op's result that belongs to one member."""
    from dataclasses import replace

    from driftline.model import WriteResult

    if isinstance(result, WriteResult):
        return replace(result, rows=op.rows, stored=op.rows, replaced=0)
    return result
