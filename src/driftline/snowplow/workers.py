"""Collector worker processes: tracker requests parsed and enriched beside the server.

The server is one Python process, so HTTP, enrichment and the writer share one interpreter
lock; on a machine with more cores, ``driftline serve`` starts collector workers (one per core
by default, ``--collector-workers``). The server keeps the HTTP side and the
single writer; a worker gets each request's parts (method, path, headers, body, client
address and the project the path names) and runs
:meth:`~driftline.snowplow.collector.Collector.handle` on it. The requests waiting for a worker
are enriched as one batch: the worker sends back each request's response (or error) and the
batch's rows as Arrow tables, built once (``snowplow_events``, ``events`` and bad rows). The
server gives the batch to the writer as one op and answers each request only once that op is
committed, as it does when it enriches a request itself.

* Workers are started at the first collector request; until one is ready, and whenever every
  worker already has :data:`MAX_IN_FLIGHT` requests, the server enriches the request itself.
* A worker loads ``snowplow.toml`` itself and gets the list of projects from the server
  whenever it changed.
* A worker that dies fails the requests it held with a 503 (nothing of them was stored,
  so the trackers' retries are safe) and is started again.
* Workers ignore Ctrl-C and leave when the server closes their socket, or when the server
  process is gone (their socket reaches end of file).

Messages are pickles framed as :class:`multiprocessing.connection.Connection` frames them (a
4-byte big-endian length), over a socket pair: the worker uses ``Connection``, the server
asyncio streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pyarrow as pa

from driftline.errors import DriftlineError, TransientError
from driftline.model import Project
from driftline.snowplow.collector import (
    Collector,
    Handled,
    Item,
    Request,
    bad_table,
    build_tables,
)
from driftline.snowplow.events import EVENTS_SQL
from driftline.store import GroupCommitWriter
from driftline.store.snowplow import AppendEnriched

log = logging.getLogger("driftline.snowplow")

#: requests a worker holds before the server enriches further ones itself
MAX_IN_FLIGHT = 1024
#: most requests a worker enriches as one batch (one set of Arrow tables, one writer op)
MAX_BATCH = 64
_HEADER = struct.Struct("!i")


class WorkerStopped(TransientError):
    status = 503


def default_count() -> int:
    """One worker per CPU core, at most 4; none on a single core.

    The server's own share of a collector request (HTTP, the writer) is about as large as a
    worker's (the enrichment), and the operating system balances the processes over the
    cores: on 2 cores, two workers took 16,700 events/s from 1,000 connections against
    14,300 with one, and the same 12,800 from 256 connections."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 1 else min(4, cores)


# ---------------------------------------------------------------------- worker process
def worker_main(conn: Connection, config_path: str | None) -> None:
    """A worker process's whole life: load the configuration, then answer requests until
    the server closes the socket. Leaves without the interpreter's teardown, which has
    nothing to save here and would only print native libraries' notices."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    try:
        _serve(conn, config_path)
    except BaseException:
        log.exception("collector worker stopped")
    finally:
        logging.shutdown()
        os._exit(0)


def _serve(conn: Connection, config_path: str | None) -> None:
    from driftline.server.gc_tuning import tune_for_serving
    from driftline.snowplow import config as sp_config

    try:
        config = sp_config.load(Path(config_path) if config_path else None)
    except DriftlineError as exc:
        conn.send_bytes(pickle.dumps(("failed", exc.message)))
        return
    projects: list[Project] = []
    collector = Collector(config, lambda: projects)
    tune_for_serving()
    conn.send_bytes(pickle.dumps(("ready", os.getpid())))
    while True:
        try:
            messages = [conn.recv_bytes()]
            # every request already waiting: one batch, one set of Arrow tables
            while len(messages) < MAX_BATCH and conn.poll(0):
                messages.append(conn.recv_bytes())
        except (EOFError, OSError):
            return
        answers: list[tuple[Any, ...]] = []
        items: list[Item] = []
        bad: list[tuple[int, str, str, str]] = []
        for data in messages:
            rid, raw, canonical, project, new_projects = pickle.loads(data)
            if new_projects is not None:
                projects[:] = new_projects
            try:
                handled = collector.handle(raw, canonical, project)
            except DriftlineError as exc:
                answers.append((rid, None, (exc.status, exc.message, exc.field)))
                continue
            except Exception:
                log.exception("collector worker: a request failed")
                error = (500, "the collector could not process this request", None)
                answers.append((rid, None, error))
                continue
            if handled.output is not None:
                items += handled.output.items
                bad += handled.output.bad
                handled.output = None
            answers.append((rid, handled, None))
        tables = _encode(items, bad)
        present = tuple(t is not None for t in tables)
        try:
            # the answers pickled, then each table's Arrow IPC stream as a frame of its own
            # (a megabyte or two a batch: not copied into the pickle and out of it again)
            conn.send_bytes(pickle.dumps(("batch", answers, present), protocol=5))
            for table in tables:
                if table is not None:
                    conn.send_bytes(memoryview(table))
        except OSError:
            return


def _encode(
    items: list[Item], bad: list[tuple[int, str, str, str]]
) -> tuple[pa.Buffer | None, pa.Buffer | None, pa.Buffer | None]:
    """A batch's rows as Arrow IPC streams: (snowplow_events, events, bad_rows)."""
    out: list[pa.Buffer | None] = [None, None, None]
    tables: list[pa.Table | None] = [None, None, bad_table(bad)]
    if items:
        tables[0], tables[1] = build_tables(items)
    for i, table in enumerate(tables):
        if table is not None and table.num_rows:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as stream:
                stream.write_table(table)
            out[i] = sink.getvalue()
    return out[0], out[1], out[2]


def _decode(data: bytes | pa.Buffer | None) -> pa.Table | None:
    return pa.ipc.open_stream(data).read_all() if data is not None else None


# ---------------------------------------------------------------------- server side
class _Worker:
    def __init__(self, pool: CollectorWorkers, number: int) -> None:
        self.pool = pool
        self.number = number
        self.pending: dict[int, asyncio.Future[tuple[Handled, Any]]] = {}
        self.ready = False
        self.sent_projects: list[Project] | None = None
        self.process: Any = None
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.sent_projects = None  # a new process knows no projects yet
        ctx = multiprocessing.get_context("spawn")  # never fork a process with DuckDB threads
        ours, theirs = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=worker_main,
            args=(theirs, self.pool.config_path),
            name=f"driftline-collector-{self.number}",
            daemon=True,
        )
        self.process.start()
        theirs.close()
        sock = socket.socket(fileno=os.dup(ours.fileno()))
        ours.close()
        sock.setblocking(False)
        reader, self.writer = await asyncio.open_unix_connection(sock=sock)
        self.task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                message = pickle.loads(await reader.readexactly(size))
                if message[0] == "ready":
                    self.ready = True
                    log.info("collector worker %d ready (pid %d)", self.number, message[1])
                    continue
                if message[0] == "failed":
                    log.error("collector worker %d did not start: %s", self.number, message[1])
                    self.pool.disabled = True
                    return
                _, answers, present = message
                tables: list[bytes | None] = []
                for there in present:
                    if there:
                        (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                        tables.append(await reader.readexactly(size))
                    else:
                        tables.append(None)
                self._answer(answers, (tables[0], tables[1], tables[2]))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._stopped()

    def _answer(
        self,
        answers: list[tuple[int, Handled | None, tuple[int, str, str | None] | None]],
        tables: tuple[bytes | None, bytes | None, bytes | None],
    ) -> None:
        """A batch from the worker: its rows go to the writer as one op; each request's
        future gets its response and the commit to wait for (or its error)."""
        commit: Any = None
        enriched, events, bad = (_decode(t) for t in tables)
        if enriched is not None or bad is not None:
            built = [(enriched, events)] if enriched is not None and events is not None else []
            op = AppendEnriched(None, EVENTS_SQL, bad_rows=bad, built=built, sources=len(answers))
            try:
                commit = self.pool.writer.submit(op)
            except DriftlineError as exc:  # back-pressure: nothing of the batch is stored
                commit = exc
        for rid, handled, error in answers:
            future = self.pending.pop(rid, None)
            if future is None or future.done():
                continue
            if error is not None:
                status, text, field = error
                exc = DriftlineError(text, field=field)
                exc.status = status
                future.set_exception(exc)
            elif isinstance(commit, DriftlineError):
                future.set_exception(commit)
            else:
                assert handled is not None
                future.set_result((handled, commit))

    def _stopped(self) -> None:
        self.ready = False
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(
                    WorkerStopped("the collector worker stopped; nothing was stored, retry")
                )
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.process is not None:
            self.process.join(0)
        if not self.pool.closing and not self.pool.disabled:
            log.warning("collector worker %d stopped; starting it again", self.number)
            self.pool.restart(self)

    def submit(
        self, raw: Request, canonical: str, project: Project | None, projects: list[Project]
    ) -> asyncio.Future[tuple[Handled, Any]]:
        assert self.writer is not None
        rid = next(self.pool.ids)
        changed = None
        if projects is not self.sent_projects and projects != self.sent_projects:
            changed = self.sent_projects = projects
        data = pickle.dumps(
            (rid, raw, canonical, project, changed), protocol=pickle.HIGHEST_PROTOCOL
        )
        future: asyncio.Future[tuple[Handled, Any]] = asyncio.get_running_loop().create_future()
        self.pending[rid] = future
        self.writer.write(_HEADER.pack(len(data)) + data)
        return future

    async def stop(self) -> None:
        if self.writer is not None:
            self.writer.close()  # end of file: the worker leaves
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, 5)
        if self.process is not None:
            await asyncio.to_thread(self.process.join, 5)
            if self.process.is_alive():
                self.process.kill()


class CollectorWorkers:
    """The server's side of its collector workers."""

    def __init__(self, count: int, config_path: Path | None, writer: GroupCommitWriter) -> None:
        self.count = count
        self.writer = writer
        self.config_path = str(config_path) if config_path else None
        self.workers: list[_Worker] = []
        self.ids = itertools.count(1)
        self.closing = False
        self.disabled = False  # a worker could not load the configuration
        self._starting: asyncio.Task[None] | None = None
        #: the store's project objects last seen, and the same without their secrets
        self._projects: tuple[list[Project], list[Project]] = ([], [])

    def _without_secrets(self, projects: list[Project]) -> list[Project]:
        """``projects`` as a worker may see them: ids, names and tokens, never secrets. The
        same list object while the store's projects are the same objects (the store keeps
        them until a project changes), so that a worker is sent the list only when it
        changed."""
        seen, safe = self._projects
        if len(seen) != len(projects) or any(
            a is not b for a, b in zip(seen, projects, strict=True)
        ):
            safe = [dataclasses.replace(p, secret="") for p in projects]
            self._projects = (list(projects), safe)
        return safe

    def _start_all(self) -> None:
        async def start() -> None:
            for number in range(1, self.count + 1):
                worker = _Worker(self, number)
                await worker.start()
                self.workers.append(worker)

        self._starting = asyncio.create_task(start())

    def ready_count(self) -> float:
        return float(sum(w.ready for w in self.workers))

    def restart(self, worker: _Worker) -> None:
        async def again() -> None:
            await asyncio.sleep(0.5)  # a worker that dies at once must not spin
            if not self.closing:
                await worker.start()

        asyncio.get_running_loop().create_task(again())

    def take(self) -> _Worker | None:
        """The ready worker with the fewest requests in hand, or None when no worker can
        take one now (the server then enriches the request itself). Starts the workers at
        the first call."""
        if self.disabled or self.closing:
            return None
        if self._starting is None:
            self._start_all()
            return None
        best = None
        for worker in self.workers:
            if worker.ready and (best is None or len(worker.pending) < len(best.pending)):
                best = worker
        if best is None or len(best.pending) >= MAX_IN_FLIGHT:
            return None
        return best

    async def handle(
        self,
        worker: _Worker,
        raw: Request,
        canonical: str,
        project: Project | None,
        projects: list[Project],
    ) -> Handled:
        """``worker``'s answer for this request once its rows are committed (raises what the
        collector or the writer raised)."""
        safe = self._without_secrets(projects)
        named = dataclasses.replace(project, secret="") if project is not None else None
        handled, commit = await worker.submit(raw, canonical, named, safe)
        if commit is not None:
            await asyncio.wrap_future(commit)
        return handled

    async def close(self) -> None:
        self.closing = True
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await self._starting
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
