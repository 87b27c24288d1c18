"""The sync engine: warehouse table → Arrow batches → mapped, validated rows → the store.

One run:

1. load the sync and its warehouse, connect, read the table's columns and check the
   mapping against them (a bad mapping fails before anything is read);
2. record the run and create its staging table (:class:`~driftline.store.sync_ops.BeginSyncRun`);
3. stream the table as Arrow record batches (filters pushed down into the warehouse's SQL)
   on a reader thread, while this thread maps and validates each batch in DuckDB and hands
   it to the store's writer, at most a few batches in flight: memory stays bounded whatever
   the table's size;
4. commit: the staged rows, the new watermark and the history row land in one store
   transaction (:class:`~driftline.store.sync_ops.CommitSyncRun`).

A run that fails or is killed before step 4 leaves the store and the watermark as they were;
the next run clears its leftovers and starts again from the same watermark.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.errors import DriftlineError, NotFound, TerminalError, TransientError
from driftline.model import TableType
from driftline.prefetch import prefetch
from driftline.store import DuckDBStore, GroupCommitWriter
from driftline.store.sync_ops import (
    STREAM_VIEW,
    SYNC_REFUSED,
    BeginSyncRun,
    CommitSyncRun,
    FailSyncRun,
    InsertSyncEvents,
    RunCounts,
    StreamSyncEvents,
    SyncStaging,
    Target,
)
from driftline.sync import urls
from driftline.sync.mapping import Mapping, resolve, split_rejected
from driftline.sync.modes import runner_for
from driftline.sync.sources import open_source
from driftline.sync.sources.base import MapsInPlace, Source, StoreRead, TableRef
from driftline.sync.spec import SyncSpec

#: staged batches being written at once
IN_FLIGHT = 2


@dataclass
class Progress:
    """What a running sync has done so far (read by progress bars and ``/runs``)."""

    sync: str
    run_id: str = ""
    status: str = "starting"  # starting, reading, committing, succeeded, failed, skipped
    total: int | None = None
    counts: RunCounts = field(default_factory=RunCounts)
    started: float = field(default_factory=time.monotonic)
    error: str | None = None
    transient: bool = False  # the error is one a retry may cure
    message: str | None = None
    #: how the rows went in: "store" (the store read and mapped the source's files in one
    #: statement), "stream" (batches read here, mapped, streamed into one insert), "staged"
    path: str = ""

    def as_dict(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return {
            "sync": self.sync,
            "run_id": self.run_id,
            "status": self.status,
            "total": self.total,
            "rows_read": self.counts.rows_read,
            "rows_per_second": round(self.counts.rows_read / elapsed),
            "seconds": round(elapsed, 3),
            "error": self.error,
            "transient": self.transient,
            "message": self.message,
            **{k: v for k, v in self.counts.as_dict().items() if k != "rows_read"},
        }


@dataclass(frozen=True)
class SyncDefinition:
    project_id: int
    spec: SyncSpec
    url: str  # as stored: ${ENV} references unresolved
    state: dict[str, Any]


# ---------------------------------------------------------------------- loading
def load_sync(store: DuckDBStore, project_id: int, name: str) -> SyncDefinition:
    rows = store.query_rows(
        """SELECT s.spec, s.state, w.url FROM syncs s
           LEFT JOIN warehouses w ON w.project_id = s.project_id AND w.name = s.warehouse
           WHERE s.project_id = ? AND s.name = ?""",
        [project_id, name],
    )
    if not rows:
        raise NotFound(f'no sync named "{name}"; `driftline sync list` shows them')
    spec_json, state_json, url = rows[0]
    spec = SyncSpec.model_validate(json.loads(spec_json))
    if url is None:
        raise TerminalError(
            f'sync "{name}": its warehouse "{spec.warehouse}" no longer exists; add it again '
            "with `driftline warehouse add`"
        )
    return SyncDefinition(project_id, spec, url, json.loads(state_json) if state_json else {})


def warehouse_url(store: DuckDBStore, project_id: int, name: str) -> str:
    rows = store.query_rows(
        "SELECT url FROM warehouses WHERE project_id = ? AND name = ?", [project_id, name]
    )
    if not rows:
        known = store.query_rows(
            "SELECT name FROM warehouses WHERE project_id = ? ORDER BY name", [project_id]
        )
        names = ", ".join(str(r[0]) for r in known)
        raise NotFound(
            f'no warehouse named "{name}" in this project'
            + (f" (warehouses: {names})" if names else "")
            + f"; add it with `driftline warehouse add {name} URL`"
        )
    return str(rows[0][0])


def _boundary(store: DuckDBStore, project_id: int, name: str) -> set[str]:
    rows = store.query_rows(
        "SELECT row_key FROM sync_boundary WHERE project_id = ? AND sync_name = ?",
        [project_id, name],
    )
    return {str(r[0]) for r in rows}


def resolve_mapping(source: Source, spec: SyncSpec) -> Mapping:
    schema = source.describe(TableRef.parse(spec.table))
    return resolve(spec, schema)


@contextlib.contextmanager
def connected(url: str) -> Iterator[Source]:
    source = open_source(url)
    try:
        yield source
    finally:
        with contextlib.suppress(Exception):
            source.close()


# ---------------------------------------------------------------------- preview
def preview_sync(
    definition: SyncDefinition, *, rows: int = 10, store: DuckDBStore | None = None
) -> dict[str, Any]:
    """Schema, mapping, the first rows as they will land, and the row count — nothing written.
    With ``store``, a Mirror sync also shows its pending inserts / updates / deletes."""
    spec = definition.spec
    pending = None
    with connected(definition.url) as source:
        mapping = resolve_mapping(source, spec)
        mode = runner_for(mapping, definition.state, set())
        if store is not None and hasattr(mode, "pending"):
            staging = SyncStaging(store.data_dir, uuid.uuid4().hex)
            pending = mode.pending(store, source, definition.project_id, spec.name, staging)
        request = mode.request()
        total = source.count(request)
        sample = dict(request.__dict__)
        sample["limit"] = rows
        from driftline.sync.sources.base import ReadRequest

        batches = list(source.read(ReadRequest(**sample), mapping.schema))  # type: ignore[call-arg]
    landed: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    seq = 0
    for batch in batches:
        out = mapping.transform(batch, seq_start=seq, project_id=definition.project_id)
        seq += batch.num_rows
        hidden = [c for c in ("seq", "_wm", "_key_hash") if c in out.schema.names]
        for row in out.drop_columns(hidden).to_pylist():
            err = row.pop("err")
            for key in ("origin", "project_id", "origin_key"):
                row.pop(key, None)
            if isinstance(row.get("properties"), str):
                row["properties"] = json.loads(row["properties"])
            (rejected if err else landed).append({**row, "rejected": err} if err else row)
    return {
        "sync": spec.name,
        "table": str(mapping.schema.table),
        "type": spec.type.value,
        "mode": spec.mode.value,
        "columns": [
            {"name": c.name, "type": c.type_name, "kind": c.kind.value}
            for c in mapping.schema.columns
        ],
        "mapping": mapping.describe(),
        "rows_to_read": total,
        "since": request.since.isoformat() if request.since else None,
        "skip": mode.skip_reason(),
        **({"pending": pending} if pending is not None else {}),
        "sample": landed,
        "sample_rejected": rejected,
    }


# ---------------------------------------------------------------------- run
def run_sync(
    store: DuckDBStore,
    writer: GroupCommitWriter,
    project_id: int,
    name: str,
    *,
    progress: Progress | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Run sync ``name`` once; return its history row. Raises on failure (after recording it)."""
    definition = load_sync(store, project_id, name)
    spec = definition.spec
    prog = progress or Progress(name)
    prog.run_id = uuid.uuid4().hex
    prog.status = "connecting"
    notify = on_progress or (lambda p: None)
    started = False
    staging = SyncStaging(store.data_dir, prog.run_id)
    try:
        writer.write(BeginSyncRun(store.data_dir, project_id, name, prog.run_id, spec.mode.value))
        started = True
        with connected(definition.url) as source:
            mapping = resolve_mapping(source, spec)
            mode = runner_for(mapping, definition.state, _boundary(store, project_id, name))
            skip = mode.skip_reason()
            if skip:
                prog.status, prog.message = "skipped", skip
                writer.write(
                    FailSyncRun(
                        staging, project_id, name, prog.run_id, "skipped", skip, prog.counts
                    )
                )
                return _history_row(store, project_id, name, prog.run_id)
            drive = getattr(mode, "drive", None)
            if drive is not None:  # a mode that plans its own reads and commit (Mirror)
                drive(store=store, writer=writer, source=source, project_id=project_id, name=name,
                      run_id=prog.run_id, staging=staging, prog=prog, notify=notify,
                      cancel=cancel, target=_target(spec))  # fmt: skip
                prog.status = "succeeded"
                notify(prog)
                return _history_row(store, project_id, name, prog.run_id)
            request = mode.request()
            prog.total = source.count(request)
            prog.status = "reading"
            notify(prog)
            batches = _mapped(source, mapping, mode, request, project_id, prog, notify, cancel)

            def commit() -> CommitSyncRun:
                return CommitSyncRun(
                    staging, project_id, name, prog.run_id, _target(spec), prog.counts,
                    mode.new_state(), mode.boundary(),
                )  # fmt: skip

            if spec.type is TableType.EVENTS and _store_maps(
                store, writer, source, mapping, mode, request, project_id, name, prog, notify,
                _target(spec), cancel,
            ):  # fmt: skip
                prog.path = "store"  # the store read the files and mapped them in one statement
            elif spec.type is TableType.EVENTS:
                prog.path = "stream"
                # one INSERT pulls the mapped batches as they are read: no staging
                writer.write(
                    StreamSyncEvents(
                        prefetch(batches, name="driftline-sync-mapper"), project_id, name,
                        prog.run_id, _target(spec), prog.counts,
                        lambda: (mode.new_state(), mode.boundary()),
                    )
                )  # fmt: skip
            else:
                prog.path = "staged"
                _stage(batches, staging)
                writer.write(commit())
        prog.status = "succeeded"
        notify(prog)
        return _history_row(store, project_id, name, prog.run_id)
    except BaseException as exc:
        prog.status = "failed"
        prog.error = _message(exc, definition.url)
        prog.transient = isinstance(exc, TransientError)
        if started:
            with contextlib.suppress(Exception):
                writer.write(
                    FailSyncRun(
                        staging, project_id, name, prog.run_id, "failed", prog.error, prog.counts
                    )
                )
        notify(prog)
        if isinstance(exc, DriftlineError):
            raise type(exc)(prog.error) from None
        if isinstance(exc, Exception):
            raise TerminalError(prog.error) from None
        raise


def _mapped(
    source: Source, mapping: Mapping, mode: Any, request: Any, project_id: int, prog: Progress,
    notify: Callable[[Progress], None], cancel: threading.Event | None,
) -> Iterator[pa.Table]:  # fmt: skip
    """The run's rows, batch by batch, mapped, validated and ready for the store."""
    seq = 0
    now_ms = int(time.time() * 1000)
    in_place = isinstance(source, MapsInPlace)
    if in_place:  # DuckDB reads and maps in one query; rows arrive mapped
        sql, params = mapping.sql("_dl_read", project_id=project_id, now_ms=now_ms)
        stream = source.read_mapped(request, mapping.schema, "_dl_read", sql, params)
    else:
        stream = source.read(request, mapping.schema)
    for batch in prefetch(stream, name="driftline-sync-reader"):
        _count_read(prog, batch, cancel)
        if in_place:
            numbers = pa.array(np.arange(seq, seq + batch.num_rows, dtype=np.int64))
            rows = pa.Table.from_batches([batch])
            rows = rows.set_column(rows.schema.get_field_index("seq"), "seq", numbers)
        else:
            rows = mapping.transform(batch, seq_start=seq, project_id=project_id, now_ms=now_ms)
        seq += batch.num_rows
        rows = mode.accept(rows)
        rows, rejected, reason = split_rejected(rows)
        if rejected:
            prog.counts.rejected += rejected
            prog.message = prog.message or f"rejected rows, e.g.: {reason}"
        notify(prog)
        yield rows.drop_columns(["_wm"])
    prog.status = "committing"
    notify(prog)


def _store_maps(
    store: DuckDBStore, writer: GroupCommitWriter, source: Source, mapping: Mapping, mode: Any,
    request: Any, project_id: int, name: str, prog: Progress,
    notify: Callable[[Progress], None], target: Target, cancel: threading.Event | None,
) -> bool:  # fmt: skip
    """The fast path of an events run: the mapping and the insert are one statement in the
    store (:class:`~driftline.store.sync_ops.InsertSyncEvents`), over the source's files
    when the store can read them itself (Parquet files; DuckDB files, which it attaches) or
    else over the warehouse's raw batches as they arrive. False when the run must take the
    streamed path: the source or the mode does not allow it, or a row is to be rejected
    (the streamed path counts and reports rejected rows; nothing was stored)."""
    skip_sql = getattr(mode, "skip_sql", None)
    if skip_sql is None:
        return False
    read_sql = getattr(source, "store_read_sql", None)
    store_read: StoreRead | None = read_sql(request, mapping.schema) if read_sql else None
    read = store_read.sql if store_read is not None else None
    now_ms = int(time.time() * 1000)
    stream: _RawStream | None = None
    if read is None:
        if isinstance(source, MapsInPlace):
            return False  # a DuckDB file: mapped in its own engine, then streamed
        stream = _RawStream(
            source.read(request, mapping.schema), mapping, project_id, now_ms, prog, notify,
            cancel,
        )  # fmt: skip
        if not stream.started():
            return False  # nothing to read: the streamed path records the empty run
        read = f"SELECT * FROM {STREAM_VIEW}"
    sql, params = mapping.sql("_dl_read", project_id=project_id, now_ms=now_ms)
    mapped = (
        f"WITH _dl_read AS (SELECT *, CAST(0 AS BIGINT) AS _seq FROM ({read})) "
        f"SELECT * FROM ({sql})"
    )
    skip, skip_params = skip_sql("origin_key", "_wm")

    def finish(on_top: pa.Table) -> tuple[dict[str, Any], pa.Table | None]:
        mode.accept(on_top)
        state: dict[str, Any] = mode.new_state()
        return state, mode.boundary()

    op = InsertSyncEvents(
        mapped, params or {}, skip, skip_params, project_id, name, prog.run_id, target,
        prog.counts, finish, stream, attach=store_read.attach if store_read else None,
        cancel=cancel,
    )  # fmt: skip
    future = writer.submit(op, wait_for_room=True)
    while not future.done():
        with contextlib.suppress(TimeoutError):
            future.exception(timeout=0.25)
        if cancel is not None and cancel.is_set():
            op.interrupt()
        done = store.write_progress()
        if stream is None and done is not None and prog.total and not future.done():
            # an estimate until the statement has counted the rows it read
            op.estimate_rows_read(int(prog.total * done))
            notify(prog)
    try:
        future.result()
    except duckdb.Error as exc:
        if SYNC_REFUSED in str(exc):
            prog.counts.rows_read = prog.counts.bytes = 0
            return False
        raise
    finally:
        if stream is not None:
            stream.close()
    return True


class _RawStream:
    """The warehouse's raw batches on their way into the store's statement: counted, the
    cancel honoured, and the rows on the newest insert time kept (mapped at the end, they
    are all the run's state depends on)."""

    def __init__(
        self, batches: Iterator[pa.RecordBatch], mapping: Mapping, project_id: int,
        now_ms: int, prog: Progress, notify: Callable[[Progress], None],
        cancel: threading.Event | None,
    ) -> None:  # fmt: skip
        self._batches = prefetch(batches, name="driftline-sync-reader")
        self.mapping = mapping
        self.project_id = project_id
        self.now_ms = now_ms
        self.prog = prog
        self.notify = notify
        self.cancel = cancel
        col = mapping.columns.get("insert_time_column")
        self._wm = col.name if col is not None else None
        self._top: Any = None
        self._on_top: list[pa.RecordBatch] = []
        self._first: pa.RecordBatch | None = None
        self.error: BaseException | None = None

    def started(self) -> bool:
        """Read the first batch (its schema is the stream's); False when there is none."""
        self._first = next(self._batches, None)
        return self._first is not None

    def reader(self) -> pa.RecordBatchReader:
        assert self._first is not None
        return pa.RecordBatchReader.from_batches(self._first.schema, self._iterate())

    def _iterate(self) -> Iterator[pa.RecordBatch]:
        try:
            first, self._first = self._first, None
            for batch in itertools.chain([first] if first is not None else [], self._batches):
                _count_read(self.prog, batch, self.cancel)
                self.notify(self.prog)
                self._note(batch)
                yield batch
            self.prog.status = "committing"
            self.notify(self.prog)
        except GeneratorExit:  # the statement stopped reading (it refused a row): no error here
            raise
        except BaseException as exc:  # re-raised by the op as itself
            self.error = exc
            raise

    def _note(self, batch: pa.RecordBatch) -> None:
        """Keep the batch's rows on the newest insert time seen so far."""
        if self._wm is None or batch.num_rows == 0:
            return
        wm = batch.column(self._wm)
        top = pc.max(wm)
        if not top.is_valid:
            return
        if self._top is None or pc.greater(top, self._top).as_py():
            self._top, self._on_top = top, []
        elif not pc.equal(top, self._top).as_py():
            return
        self._on_top.append(batch.filter(pc.fill_null(pc.equal(wm, top), False)))

    def close(self) -> None:
        """Stop reading the warehouse (a refused statement stops pulling mid-way)."""
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()

    def seen(self) -> tuple[int, pa.Table]:
        rows = pa.Table.from_batches(self._on_top) if self._on_top else None
        if rows is None or rows.num_rows == 0:
            on_top = pa.table(
                {"origin_key": pa.array([], pa.string()), "_wm": pa.array([], pa.timestamp("us"))}
            )
        else:
            batch = rows.combine_chunks().to_batches()[0]
            mapped = self.mapping.transform(
                batch, seq_start=0, project_id=self.project_id, now_ms=self.now_ms
            )
            on_top = mapped.select(["origin_key", "_wm"])
        return self.prog.counts.rows_read, on_top


def _count_read(prog: Progress, batch: pa.RecordBatch, cancel: threading.Event | None) -> None:
    """A batch read from the warehouse: stop if the run was cancelled, else count it."""
    if cancel is not None and cancel.is_set():
        raise TerminalError("cancelled")
    prog.counts.rows_read += batch.num_rows
    prog.counts.bytes += batch.nbytes


def _stage(batches: Iterator[pa.Table], staging: SyncStaging) -> None:
    """Write every batch as a Parquet part, on a thread of its own, a few in flight."""
    with ThreadPoolExecutor(1, thread_name_prefix="driftline-sync-stage") as pool:
        pending: deque[Future[int]] = deque()
        for rows in batches:
            while len(pending) >= IN_FLIGHT:
                pending.popleft().result()
            pending.append(pool.submit(staging.write, rows))
        while pending:
            pending.popleft().result()


def _target(spec: SyncSpec) -> Target:
    return Target(
        table_type=spec.type.value,
        mode=spec.mode.value,
        origin=spec.origin,
        group_key=spec.group_key,
        lookup_id=spec.name,
        lookup_name=spec.name,
        lookup_property=spec.lookup_property or spec.name,
        history=bool(spec.start_time_column),
    )


def _message(exc: BaseException, url: str) -> str:
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, DriftlineError):
        text = f"{type(exc).__name__}: {text.splitlines()[0]}"
    secrets: list[str] = []
    with contextlib.suppress(Exception):
        secrets = urls.parse(url).secrets()
    return urls.scrub(text, secrets)


# ---------------------------------------------------------------------- history
HISTORY_COLUMNS = (
    "run_id", "started_at", "finished_at", "status", "error", "rows_read", "inserted", "updated",
    "deleted", "rejected", "bytes", "mode",
)  # fmt: skip


def history(
    store: DuckDBStore, project_id: int, name: str, limit: int = 100
) -> list[dict[str, Any]]:
    """Runs of a sync, oldest first."""
    cols = ", ".join(HISTORY_COLUMNS)
    rows = store.query_rows(
        f"""SELECT * FROM (SELECT {cols} FROM sync_runs WHERE project_id = ? AND sync_name = ?
                           ORDER BY started_at DESC, run_id LIMIT ?) ORDER BY started_at, run_id""",
        [project_id, name, limit],
    )
    return [_run_dict(r) for r in rows]


def _history_row(store: DuckDBStore, project_id: int, name: str, run_id: str) -> dict[str, Any]:
    cols = ", ".join(HISTORY_COLUMNS)
    rows = store.query_rows(
        f"SELECT {cols} FROM sync_runs WHERE project_id = ? AND sync_name = ? AND run_id = ?",
        [project_id, name, run_id],
    )
    return _run_dict(rows[0])


def _run_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(HISTORY_COLUMNS, row, strict=True))
    for key in ("started_at", "finished_at"):
        if isinstance(out[key], dt.datetime):
            out[key] = out[key].isoformat()
    if out["started_at"] and out["finished_at"]:
        took = dt.datetime.fromisoformat(out["finished_at"]) - dt.datetime.fromisoformat(
            out["started_at"]
        )
        out["duration_seconds"] = round(took.total_seconds(), 3)
    else:
        out["duration_seconds"] = None
    return out
