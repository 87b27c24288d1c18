"""Write ops for warehouse syncs: a run stages its rows, then commits them in one transaction.

A sync run is atomic in the store without holding the writer for its whole duration:

1. :class:`BeginSyncRun` records the run (status ``running``) and clears whatever an earlier
   run of the same sync left behind (a run that was killed leaves staged files and a
   ``running`` row: the files are removed and the row is marked ``failed``, "interrupted").
2. :class:`SyncStaging` writes each batch of validated rows as a Parquet part in the data
   directory (``sync-staging/<run id>/``). Staging takes no lock: ingestion and other syncs
   go on, and nothing in the database changes.
3. :class:`CommitSyncRun` moves the staged rows into ``events`` / ``profiles`` /
   ``profile_history`` / ``groups`` / ``lookup_rows``, stores the sync's new state (the
   Append watermark and the keys on its boundary) and writes the history row — all in one
   transaction. Until it commits, the store and the watermark are exactly as before the
   run; after it, all of the run is there. The staged files are removed afterwards.
4. :class:`FailSyncRun` records the error and removes the staged files.

Events take the same deduplication path as API events: rows with the same
(event, distinct_id, time, insert_id) are one event and the last one ingested wins.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa
from sqlglot import exp

from driftline.errors import InUse, NotFound, TerminalError
from driftline.model import WriteResult
from driftline.store.ops import AppendEventStream, InsertEventsQuery, abandon_transaction

_names = itertools.count()

STAGING_DIR = "sync-staging"


class SyncStaging:
    """A run's staged rows: Parquet parts under ``<data dir>/sync-staging/<run id>/``."""

    def __init__(self, data_dir: Path, run_id: str) -> None:
        if not run_id.isalnum():
            raise ValueError(run_id)
        self.dir = Path(data_dir) / STAGING_DIR / run_id
        self.parts = 0

    def write(self, table: pa.Table) -> int:
        """Write one part (no database lock is taken); returns its rows."""
        import pyarrow.parquet as pq

        if table.num_rows == 0:
            return 0
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f"part-{self.parts:06d}.tmp"
        # plain encoding, no compression: the parts live for one run; writing them costs a
        # copy rather than an encode, and DuckDB reads them back streaming, memory bounded
        pq.write_table(table, tmp, compression="none", use_dictionary=False)
        tmp.rename(self.dir / f"part-{self.parts:06d}.parquet")
        self.parts += 1
        return table.num_rows

    def files(self) -> list[str]:
        return sorted(str(p) for p in self.dir.glob("part-*.parquet")) if self.dir.is_dir() else []

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _relation(files: list[str]) -> str:
    """``read_parquet([...])`` over our own staged files (paths quoted as SQL literals)."""
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return f"read_parquet([{listed}])"


def _sweep(conn: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """Remove staged files of runs that are not running any more."""
    root = Path(data_dir) / STAGING_DIR
    if not root.is_dir():
        return
    running = {
        r[0]
        for r in conn.execute("SELECT run_id FROM sync_runs WHERE status = 'running'").fetchall()
    }
    for entry in root.iterdir():
        if entry.name not in running:
            shutil.rmtree(entry, ignore_errors=True)


@dataclass
class RunCounts:
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    rejected: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class BeginSyncRun:
    rows = 0

    def __init__(
        self, data_dir: Path, project_id: int, sync_name: str, run_id: str, mode: str
    ) -> None:
        self.data_dir = data_dir
        self.project_id = project_id
        self.sync_name = sync_name
        self.run_id = run_id
        self.mode = mode

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
        key = [self.project_id, self.sync_name]
        if not conn.execute(
            "SELECT 1 FROM syncs WHERE project_id = ? AND name = ?", key
        ).fetchone():
            raise NotFound(f'no sync named "{self.sync_name}"')
        conn.execute(
            """UPDATE sync_runs SET status = 'failed', finished_at = ?::TIMESTAMP,
                   error = 'interrupted: the process running it stopped before it committed; '
                           || 'nothing of it was stored'
               WHERE project_id = ? AND sync_name = ? AND status = 'running'""",
            [now, *key],
        )
        _sweep(conn, self.data_dir)
        conn.execute(
            """INSERT INTO sync_runs (project_id, sync_name, run_id, started_at, status, mode)
               VALUES (?, ?, ?, ?::TIMESTAMP, 'running', ?)""",
            [*key, self.run_id, now, self.mode],
        )

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        pass


@dataclass
class Target:
    """Where a run's staged rows go."""

    table_type: str  # model.TableType value
    mode: str  # model.SyncMode value
    origin: str  # "sync:<name>"
    group_key: str | None = None
    lookup_id: str | None = None
    lookup_name: str | None = None
    lookup_property: str | None = None
    history: bool = False


@dataclass
class CommitSyncRun:
    staging: SyncStaging
    project_id: int
    sync_name: str
    run_id: str
    target: Target
    counts: RunCounts
    state: dict[str, Any]
    boundary: pa.Table | None = None  # (row_key) of the rows on the new watermark
    rows: int = 0
    result: RunCounts = field(default_factory=RunCounts)

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> RunCounts:
        files = self.staging.files()
        # an empty relation with the staged layout when the run staged nothing
        stage = _relation(files) if files else "(SELECT * FROM (SELECT 1) WHERE false)"
        counts = self.counts
        kind = self.target.table_type
        if not files:
            if kind == "lookup-table":
                counts.inserted, counts.updated, counts.deleted = _move_lookup(
                    conn, None, self, now
                )
        elif kind == "events":
            counts.inserted, counts.updated = _move_events(conn, stage, now)
        elif kind == "user-profiles":
            counts.inserted, counts.updated = _move_profiles(conn, stage, self, now)
        elif kind == "group-profiles":
            counts.inserted, counts.updated = _move_groups(conn, stage, self, now)
        else:
            counts.inserted, counts.updated, counts.deleted = _move_lookup(conn, stage, self, now)
        self.write_state(conn, now)
        return counts

    def write_state(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
        """The sync's new state, its Append boundary and the run's history row."""
        counts = self.counts
        key = [self.project_id, self.sync_name]
        conn.execute(
            "UPDATE syncs SET state = ?::JSON WHERE project_id = ? AND name = ?",
            [json.dumps(self.state), *key],
        )
        if self.boundary is not None:
            conn.execute("DELETE FROM sync_boundary WHERE project_id = ? AND sync_name = ?", key)
            view = f"_boundary_{next(_names)}"
            conn.register(view, self.boundary)
            try:
                conn.execute(
                    f"INSERT INTO sync_boundary SELECT DISTINCT ?, ?, row_key FROM {view}", key
                )
            finally:
                conn.unregister(view)
        _finish(conn, self.project_id, self.sync_name, self.run_id, "succeeded", None, counts, now)

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.staging.remove()


class FailSyncRun:
    rows = 0

    def __init__(
        self, staging: SyncStaging, project_id: int, sync_name: str, run_id: str, status: str,
        error: str | None, counts: RunCounts,
    ) -> None:  # fmt: skip
        self.staging = staging
        self.args = (project_id, sync_name, run_id, status, error, counts)

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
        project_id, sync_name, run_id, status, error, counts = self.args
        _finish(conn, project_id, sync_name, run_id, status, error, counts, now)

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.staging.remove()


def _finish(
    conn: duckdb.DuckDBPyConnection, project_id: int, sync_name: str, run_id: str, status: str,
    error: str | None, c: RunCounts, now: dt.datetime,
) -> None:  # fmt: skip
    finished = max(now, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    conn.execute(
        """UPDATE sync_runs SET status = ?, error = ?, finished_at = ?::TIMESTAMP, rows_read = ?,
               inserted = ?, updated = ?, deleted = ?, rejected = ?, bytes = ?
           WHERE project_id = ? AND sync_name = ? AND run_id = ?""",
        [status, error, finished, c.rows_read, c.inserted, c.updated, c.deleted, c.rejected, c.bytes,
         project_id, sync_name, run_id],
    )  # fmt: skip


def _scalar(
    conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None
) -> Any:
    row = conn.execute(sql, params or []).fetchone()
    return row[0] if row else None


# ---------------------------------------------------------------------- events
_EVENT_KEY = "project_id, event, distinct_id, time, insert_id"


def _move_events(conn: duckdb.DuckDBPyConnection, stage: str, now: dt.datetime) -> tuple[int, int]:
    """Deduplicate the staged events against each other and the store (last one wins)."""
    stats = conn.execute(
        f"""SELECT count(*) <> count(DISTINCT hash({_EVENT_KEY})), min(time), max(time),
                   count(device_id), min(project_id) FROM {stage}"""
    ).fetchone()
    dup, lo, hi, devices, project_id = stats if stats else (False, None, None, 0, None)
    if lo is None:
        return 0, 0
    src = stage
    if dup:
        src = "_sync_dedup"
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE {src} AS SELECT * FROM {stage}
                QUALIFY row_number() OVER (PARTITION BY {_EVENT_KEY} ORDER BY seq DESC) = 1"""
        )
    replaced = 0
    overlap = _scalar(
        conn,
        "SELECT count(*) FROM events WHERE project_id = ? AND time BETWEEN ?::TIMESTAMP AND ?::TIMESTAMP",
        [project_id, lo, hi],
    )
    if overlap:
        replaced = int(
            _scalar(
                conn,
                f"""DELETE FROM events e USING {src} n
                    WHERE e.time BETWEEN ?::TIMESTAMP AND ?::TIMESTAMP
                      AND e.project_id = n.project_id AND e.event = n.event
                      AND e.distinct_id = n.distinct_id AND e.time = n.time
                      AND e.insert_id = n.insert_id""",
                [lo, hi],
            )
            or 0
        )
    stored = _scalar(
        conn,
        f"""INSERT INTO events SELECT project_id, event, time, distinct_id, device_id, user_id,
                   insert_id, properties, origin, origin_key, ?::TIMESTAMP FROM {src}""",
        [now],
    )
    if devices:
        conn.execute(
            f"""INSERT OR IGNORE INTO identities
                SELECT project_id, device_id, arg_min(user_id, time), ?::TIMESTAMP FROM {src}
                WHERE device_id IS NOT NULL AND user_id IS NOT NULL GROUP BY project_id, device_id""",
            [now],
        )
    if dup:
        conn.execute(f"DROP TABLE {src}")
    return int(stored or 0) - replaced, replaced


class StreamSyncEvents:
    """Commit an events run streamed straight into ``events``: no staging.

    The run's mapped tables are pulled by ONE ``INSERT`` statement
    (:class:`~driftline.store.ops.AppendEventStream`) while the warehouse is still being
    read, deduplicated as API events are (last one ingested wins), and the sync's new state
    and history row are written in the same transaction. The writer is held until the
    stream ends; a run that fails or is killed before the commit leaves nothing behind.

    ``finish`` is called once the stream is exhausted and returns the new state and the
    Append boundary (known only after every row was seen). An error raised by the stream
    (the warehouse, a cancel) is re-raised as itself, not as DuckDB's wrapping of it; the
    op applies once only, since its stream cannot be read again.
    """

    mergeable = False
    rows = 0

    def __init__(
        self, tables: Iterable[pa.Table], project_id: int, sync_name: str, run_id: str,
        target: Target, counts: RunCounts,
        finish: Callable[[], tuple[dict[str, Any], pa.Table | None]],
    ) -> None:  # fmt: skip
        self.tables = tables
        self.project_id = project_id
        self.sync_name = sync_name
        self.run_id = run_id
        self.target = target
        self.counts = counts
        self.finish = finish
        self.error: BaseException | None = None
        self._applied = False
        self._stream: AppendEventStream | None = None

    def _guarded(self) -> Iterator[pa.Table]:
        try:
            yield from self.tables
        except GeneratorExit:  # the statement stopped reading: its own error says why
            raise
        except BaseException as exc:  # re-raised by apply(), as itself
            self.error = exc
            raise

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> RunCounts:
        if self._applied:  # the writer retries a failed op alone: the stream is spent
            raise self.error or TerminalError(
                f'sync "{self.sync_name}": the run failed while writing; run it again'
            )
        self._applied = True
        self._stream = AppendEventStream(self._guarded())
        try:
            result = self._stream.apply(conn, now)
        except Exception:
            if self.error is not None:
                raise self.error from None
            raise
        return _commit_events_run(conn, now, self, result, *self.finish())

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        if self._stream is not None:
            self._stream.cleanup(conn)


def _commit_events_run(
    conn: duckdb.DuckDBPyConnection, now: dt.datetime, op: StreamSyncEvents | InsertSyncEvents,
    result: WriteResult, state: dict[str, Any], boundary: pa.Table | None,
) -> RunCounts:  # fmt: skip
    """The end of an events run, in its insert's transaction: the counts from what the
    insert stored, then the sync's new state and its history row."""
    counts = op.counts
    counts.inserted = result.stored - result.replaced
    counts.updated = result.replaced
    commit = CommitSyncRun(
        SyncStaging(Path("."), op.run_id), op.project_id, op.sync_name, op.run_id, op.target,
        counts, state, boundary,
    )  # fmt: skip
    commit.write_state(conn, now)
    return counts


#: What the store's mapping query says when a row would be rejected (see InsertSyncEvents).
SYNC_REFUSED = "driftline: a row needs the streamed sync path"

#: The events table's columns but ingested_at, as the mapping query names them.
_MAPPED_EVENT_COLUMNS = (
    "project_id, event, time, distinct_id, device_id, user_id, insert_id, properties, origin, "
    "origin_key"
)


#: The name under which an InsertSyncEvents' stream is readable by its query.
STREAM_VIEW = "_dl_raw"


class StoreStream(Protocol):
    """Raw warehouse batches that an :class:`InsertSyncEvents` query reads once (as
    :data:`STREAM_VIEW`), noting on the way what the run's state needs."""

    error: BaseException | None

    def reader(self) -> pa.RecordBatchReader: ...

    def seen(self) -> tuple[int, pa.Table]:
        """(rows read, the mapped rows on the newest insert time: ``origin_key``, ``_wm``)."""
        ...


class InsertSyncEvents:
    """Commit an events run whose mapping the store runs itself: the read and the mapping
    are ONE ``INSERT`` in the store. The store reads either the source's files (Parquet),
    or the raw warehouse batches as they arrive (``stream``, a :class:`StoreStream`), so
    mapped rows are never handed between engines. What a run stores is exactly what
    :class:`StreamSyncEvents` stores:

    - ``mapped`` is the mapping query over the read (store rows plus ``_wm`` and ``err``),
      ``params`` its parameters;
    - ``skip`` is the mode's condition on ``origin_key`` and ``_wm`` for rows it drops (the
      Append boundary), with its own parameters in ``skip_params``;
    - a row the mapping rejects stops the statement (:data:`SYNC_REFUSED`) and the
      transaction rolls back: the caller then runs the streamed path, which counts and
      reports rejected rows; so do two rows with one key read from a ``stream`` (the
      raw batches cannot be read again in order: the streamed path keeps the later row);
    - ``finish`` gets the rows on the newest insert time (``origin_key``, ``_wm``: all that
      the mode's state depends on) and returns the new state and boundary.

    Rows are deduplicated as API events are; the state and history row are written in the
    same transaction, so a run killed before the commit leaves nothing behind.
    """

    mergeable = False
    rows = 0
    retry = False  # a refusal is an answer; anything else fails the run, which is rerun

    def __init__(
        self, mapped: str, params: dict[str, Any], skip: str, skip_params: dict[str, Any],
        project_id: int, sync_name: str, run_id: str, target: Target, counts: RunCounts,
        finish: Callable[[pa.Table], tuple[dict[str, Any], pa.Table | None]],
        stream: StoreStream | None = None, attach: tuple[str, str] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:  # fmt: skip
        self.stream = stream
        self.attach = attach
        self.cancel = cancel
        self._lock = threading.Lock()
        self._running: duckdb.DuckDBPyConnection | None = None
        self.mapped = mapped
        self.params = params
        self.skip = skip
        self.skip_params = skip_params
        self.project_id = project_id
        self.sync_name = sync_name
        self.run_id = run_id
        self.target = target
        self.counts = counts
        self.finish = finish
        #: set (under ``_lock``) once the exact count of rows read is in ``counts``: the
        #: caller's progress estimate must not replace it from then on
        self.counted = False

    def estimate_rows_read(self, rows: int) -> None:
        """The caller's estimate of rows read so far, for progress, until the exact count."""
        with self._lock:
            if not self.counted:
                self.counts.rows_read = rows

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> RunCounts:
        with self._lock:
            self._check_cancel()
            self._running = conn
        zone = conn.execute("SELECT current_setting('TimeZone')").fetchone()
        conn.execute("SET TimeZone = 'UTC'")  # as the sources read: timestamps in UTC
        try:
            counts = self._apply(conn, now)
            self._check_cancel()
            return counts
        except duckdb.Error:
            abandon_transaction(conn)  # so that the zone can be put back
            self._check_cancel()  # an interrupted statement: the run was cancelled
            raise
        finally:
            with self._lock:
                self._running = None
            if zone:
                conn.execute("SET TimeZone = ?", [zone[0]])

    def interrupt(self) -> None:
        """Stop the run's statement if it is running (the run was cancelled): its
        transaction rolls back and the run fails as cancelled. Called from another thread."""
        with self._lock:
            if self._running is not None:
                self._running.interrupt()

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise TerminalError("cancelled")

    def _apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> RunCounts:
        if self.attach is not None:  # in the transaction: a rollback detaches it too
            alias, path = self.attach
            conn.execute(f"ATTACH {_literal(path)} AS {_ident(alias)} (READ_ONLY)")
        if self.stream is None:
            return self._insert(conn, now)
        conn.register(STREAM_VIEW, self.stream.reader())
        try:
            return self._insert(conn, now)
        except Exception:
            if self.stream.error is not None:  # the warehouse's error (or a cancel), as itself
                raise self.stream.error from None
            raise
        finally:
            with contextlib.suppress(duckdb.Error):
                conn.unregister(STREAM_VIEW)

    def _insert(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> RunCounts:
        insert = InsertEventsQuery(
            f"""SELECT {_MAPPED_EVENT_COLUMNS} FROM ({self.mapped})
                WHERE CASE WHEN {self.skip} THEN false
                           WHEN err IS NOT NULL THEN error('{SYNC_REFUSED}')
                           ELSE true END""",
            {**self.params, **self.skip_params},
            # two rows of a stream with one key: the streamed path keeps the later one
            refuse_repeats=SYNC_REFUSED if self.stream is not None else None,
        )
        result = insert.apply(conn, now)
        if self.stream is not None:  # read once: what was seen on the way
            read, on_top = self.stream.seen()
        else:
            read, top = conn.execute(
                f"SELECT count(*), max(_wm) FROM ({self.mapped})", self.params
            ).fetchall()[0]
            on_top = conn.sql(
                f"SELECT origin_key, _wm FROM ({self.mapped}) WHERE _wm = $dl_top",
                params={**self.params, "dl_top": top},
            ).to_arrow_table()
        with self._lock:
            self.counted = True
            self.counts.rows_read = int(read or 0)
        return _commit_events_run(conn, now, self, result, *self.finish(on_top))

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        if self.attach is not None:
            with contextlib.suppress(duckdb.Error):
                conn.execute(f"DETACH DATABASE IF EXISTS {_ident(self.attach[0])}")


# ---------------------------------------------------------------------- rows
def _latest(stage: str) -> str:
    """One row per key: the latest start time, then the last staged."""
    return f"""SELECT row_key, properties, start_time FROM {stage}
               QUALIFY row_number() OVER (PARTITION BY row_key
                                          ORDER BY start_time DESC NULLS LAST, seq DESC) = 1"""


def _move_profiles(
    conn: duckdb.DuckDBPyConnection, stage: str, op: CommitSyncRun, now: dt.datetime
) -> tuple[int, int]:
    pid, origin = op.project_id, op.target.origin
    existing = _scalar(
        conn,
        f"SELECT count(*) FROM profiles p JOIN (SELECT DISTINCT row_key FROM {stage}) s "
        "ON p.distinct_id = s.row_key WHERE p.project_id = ?",
        [pid],
    )
    total = _scalar(conn, f"SELECT count(DISTINCT row_key) FROM {stage}")
    # upsert: properties the table sets replace the stored ones; others are kept
    conn.execute(
        f"""INSERT OR REPLACE INTO profiles (project_id, distinct_id, properties, updated_at, origin)
            SELECT ?, n.row_key, json_merge_patch(coalesce(p.properties, '{{}}'), n.properties),
                   ?::TIMESTAMP, ?
            FROM ({_latest(stage)}) n
            LEFT JOIN profiles p ON p.project_id = ? AND p.distinct_id = n.row_key""",
        [pid, now, origin, pid],
    )
    if op.target.history:
        # the history of every user in this run is rebuilt from what the table says
        conn.execute(
            f"""DELETE FROM profile_history WHERE project_id = ? AND origin = ?
                AND distinct_id IN (SELECT row_key FROM {stage})""",
            [pid, origin],
        )
        conn.execute(
            f"""INSERT INTO profile_history
                SELECT ?, row_key, properties, start_time,
                       lead(start_time) OVER (PARTITION BY row_key ORDER BY start_time), ?
                FROM (SELECT * FROM {stage} WHERE start_time IS NOT NULL
                      QUALIFY row_number() OVER (PARTITION BY row_key, start_time ORDER BY seq DESC) = 1)""",
            [pid, origin],
        )
    return int(total or 0) - int(existing or 0), int(existing or 0)


def _move_groups(
    conn: duckdb.DuckDBPyConnection, stage: str, op: CommitSyncRun, now: dt.datetime
) -> tuple[int, int]:
    pid, key = op.project_id, op.target.group_key
    existing = _scalar(
        conn,
        f"SELECT count(*) FROM groups g JOIN (SELECT DISTINCT row_key FROM {stage}) s "
        "ON g.group_id = s.row_key WHERE g.project_id = ? AND g.group_key = ?",
        [pid, key],
    )
    total = _scalar(conn, f"SELECT count(DISTINCT row_key) FROM {stage}")
    conn.execute(
        f"""INSERT OR REPLACE INTO groups (project_id, group_key, group_id, properties, updated_at, origin)
            SELECT ?, ?, n.row_key, json_merge_patch(coalesce(g.properties, '{{}}'), n.properties),
                   ?::TIMESTAMP, ?
            FROM ({_latest(stage)}) n
            LEFT JOIN groups g ON g.project_id = ? AND g.group_key = ? AND g.group_id = n.row_key""",
        [pid, key, now, op.target.origin, pid, key],
    )
    return int(total or 0) - int(existing or 0), int(existing or 0)


def _move_lookup(
    conn: duckdb.DuckDBPyConnection, stage: str | None, op: CommitSyncRun, now: dt.datetime
) -> tuple[int, int, int]:
    """Lookup tables are replaced whole (Full and One-Time), as Mixpanel's are."""
    pid, table_id = op.project_id, op.target.lookup_id
    if stage is None:
        stage = "(SELECT CAST(NULL AS VARCHAR) AS row_key, CAST(NULL AS JSON) AS properties, CAST(NULL AS TIMESTAMP) AS start_time, 0 AS seq WHERE false)"
    conn.execute(
        "INSERT OR REPLACE INTO lookup_tables VALUES (?, ?, ?, ?, ?::TIMESTAMP)",
        [pid, table_id, op.target.lookup_name, op.target.lookup_property, now],
    )
    before = conn.execute(
        f"""SELECT count(*) FILTER (WHERE s.row_key IS NULL),
                   count(*) FILTER (WHERE s.row_key IS NOT NULL)
            FROM lookup_rows r LEFT JOIN (SELECT DISTINCT row_key FROM {stage}) s ON r.row_id = s.row_key
            WHERE r.project_id = ? AND r.table_id = ?""",
        [pid, table_id],
    ).fetchone() or (0, 0)
    deleted, updated = int(before[0]), int(before[1])
    conn.execute("DELETE FROM lookup_rows WHERE project_id = ? AND table_id = ?", [pid, table_id])
    total = _scalar(
        conn,
        f"""INSERT INTO lookup_rows SELECT ?, ?, row_key, properties FROM ({_latest(stage)})""",
        [pid, table_id],
    )
    return int(total or 0) - updated, updated, deleted


# ---------------------------------------------------------------------- metadata
class SaveWarehouse:
    """Add (or with ``replace``, change) a warehouse. ``url`` is stored as written, with its
    ``${ENV}`` references unresolved."""

    rows = 0

    def __init__(self, project_id: int, name: str, url: str, *, replace: bool = False) -> None:
        self.args = (project_id, name, url)
        self.replace = replace

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> bool:
        project_id, name, url = self.args
        exists = conn.execute(
            "SELECT 1 FROM warehouses WHERE project_id = ? AND name = ?", [project_id, name]
        ).fetchone()
        if exists and not self.replace:
            from driftline.errors import AlreadyExists

            raise AlreadyExists(
                f'a warehouse named "{name}" already exists; choose another name, change its '
                f"URL with `driftline warehouse add {name} URL --replace`, or remove it with "
                f"`driftline warehouse delete {name}`"
            )
        conn.execute(
            "INSERT OR REPLACE INTO warehouses (project_id, name, url, created_at) VALUES (?, ?, ?, ?::TIMESTAMP)",
            [project_id, name, url, now],
        )
        return not exists

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        pass


class DeleteWarehouse:
    """Remove a warehouse, refused while a sync uses it: deleting the warehouse must never
    take a sync's state with it by accident."""

    rows = 0

    def __init__(self, project_id: int, name: str) -> None:
        self.key = [project_id, name]

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
        name = self.key[1]
        if not conn.execute(
            "SELECT 1 FROM warehouses WHERE project_id = ? AND name = ?", self.key
        ).fetchone():
            raise NotFound(f'no warehouse named "{name}"; `driftline warehouse list` shows them')
        users = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM syncs WHERE project_id = ? AND warehouse = ? ORDER BY name",
                self.key,
            ).fetchall()
        ]
        if len(users) == 1:
            raise InUse(
                f'warehouse "{name}" is used by sync {users[0]}: delete the sync first with '
                f"`driftline sync delete {users[0]}` (the data it loaded stays; its watermark "
                "and history go)"
            )
        if users:
            raise InUse(
                f'warehouse "{name}" is used by syncs {", ".join(users)}: delete them first '
                "with `driftline sync delete NAME` (the data they loaded stays; their "
                "watermarks and history go)"
            )
        conn.execute("DELETE FROM warehouses WHERE project_id = ? AND name = ?", self.key)

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        pass


class SaveSync:
    """Add (or with ``replace``, change) a sync's spec. A changed spec keeps the sync's
    state (watermark) unless ``reset_state``."""

    rows = 0

    def __init__(
        self, project_id: int, name: str, warehouse: str, spec: dict[str, Any], *,
        replace: bool = False, reset_state: bool = False,
    ) -> None:  # fmt: skip
        self.args = (project_id, name, warehouse, spec)
        self.replace = replace
        self.reset_state = reset_state

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> bool:
        project_id, name, warehouse, spec = self.args
        # checked in the same write as the save: a `warehouse delete` in between is seen
        if not conn.execute(
            "SELECT 1 FROM warehouses WHERE project_id = ? AND name = ?", [project_id, warehouse]
        ).fetchone():
            raise NotFound(
                f'no warehouse named "{warehouse}" (deleted meanwhile?); '
                "`driftline warehouse list` shows them"
            )
        row = conn.execute(
            "SELECT state FROM syncs WHERE project_id = ? AND name = ?", [project_id, name]
        ).fetchone()
        if row and not self.replace:
            from driftline.errors import AlreadyExists

            raise AlreadyExists(
                f'a sync named "{name}" already exists (`driftline sync delete {name}` first)'
            )
        state = None if (row is None or self.reset_state) else row[0]
        if self.reset_state:
            conn.execute(
                "DELETE FROM sync_boundary WHERE project_id = ? AND sync_name = ?",
                [project_id, name],
            )
            conn.execute(
                "DELETE FROM sync_snapshots WHERE project_id = ? AND sync_name = ?",
                [project_id, name],
            )
        conn.execute(
            """INSERT OR REPLACE INTO syncs (project_id, name, warehouse, spec, state, created_at)
               VALUES (?, ?, ?, ?::JSON, ?::JSON, ?::TIMESTAMP)""",
            [project_id, name, warehouse, json.dumps(spec), state, now],
        )
        return row is None

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        pass


class DeleteSync:
    """Remove a sync, its history and its state. Data it loaded stays in the store."""

    rows = 0

    def __init__(self, project_id: int, name: str) -> None:
        self.key = [project_id, name]

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
        if not conn.execute(
            "SELECT 1 FROM syncs WHERE project_id = ? AND name = ?", self.key
        ).fetchone():
            raise NotFound(f'no sync named "{self.key[1]}"')
        conn.execute("DELETE FROM syncs WHERE project_id = ? AND name = ?", self.key)
        conn.execute("DELETE FROM sync_runs WHERE project_id = ? AND sync_name = ?", self.key)
        conn.execute("DELETE FROM sync_boundary WHERE project_id = ? AND sync_name = ?", self.key)
        conn.execute("DELETE FROM sync_snapshots WHERE project_id = ? AND sync_name = ?", self.key)

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        pass


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def _literal(text: str) -> str:
    return exp.Literal.string(text).sql("duckdb")
