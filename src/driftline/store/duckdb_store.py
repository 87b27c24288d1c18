"""The event store on embedded DuckDB.

One database file (``store.duckdb``) in the data directory, owned by one process at a time.
Writes are :class:`~driftline.store.ops.WriteOp` objects applied by the single writer
(:mod:`driftline.store.writer`) inside one transaction per group commit; reads run on their
own cursors and see committed data only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from driftline.errors import AlreadyExists, InvalidInput, NotFound, StoreBusy, TerminalError
from driftline.model import Project, WriteResult, new_token
from driftline.store.ops import LINKED_DEVICES, LinkedDevices, WriteOp
from driftline.store.schema import LATEST_VERSION, MIGRATIONS

STORE_FILE = "store.duckdb"
_LOCK_PID = re.compile(r"PID (\d+)")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class DuckDBStore:
    """The store. Thread-safe: each call takes its own cursor; writes are serialised."""

    def __init__(self, data_dir: Path, *, threads: int = 2, memory_limit: str = "4GB") -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / STORE_FILE
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self.data_dir, 0o700)
        self._conn = _connect(self.path, threads=threads, memory_limit=memory_limit)
        self.threads = threads
        self._live_load = False
        self._linked_devices = LinkedDevices()
        self._write_lock = threading.Lock()
        self._last_commit = dt.datetime.min
        self._closed = False
        self._projects: list[Project] | None = None
        self._migrate()

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Checkpoint and close. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        with self._write_lock:
            with contextlib.suppress(duckdb.Error):
                self._conn.execute("CHECKPOINT")
            self._conn.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        conn = self._conn
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
            "description VARCHAR, applied_at TIMESTAMP)"
        )
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        current = int(row[0]) if row else 0
        if current > LATEST_VERSION:
            raise TerminalError(
                f"{self.path} was written by a newer driftline (schema {current}, this one knows "
                f"{LATEST_VERSION}); upgrade driftline to open it"
            )
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            conn.execute("BEGIN")
            try:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)",
                    [migration.version, migration.description, _utcnow()],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        row = self._cursor().execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # ---------------------------------------------------------------- reads
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        if self._closed:
            raise TerminalError("the store is closed")
        return _quiet(self._conn.cursor())

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run a read query (built by a query engine with sqlglot) and return Arrow."""
        with contextlib.closing(self._cursor()) as cur:
            return cur.execute(sql, params or []).to_arrow_table()

    def query_rows(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        with contextlib.closing(self._cursor()) as cur:
            return cur.execute(sql, params or []).fetchall()

    def stream(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        batch_rows: int = 100_000,
    ) -> Iterator[pa.RecordBatch]:
        """Run a read query and yield its result as Arrow record batches."""
        cur = self._cursor()
        try:
            reader = cur.sql(sql, params=params or None).to_arrow_reader(batch_rows)
            yield from reader
        finally:
            cur.close()

    def count_events(self, project_id: int) -> int:
        rows = self.query_rows("SELECT count(*) FROM events WHERE project_id = ?", [project_id])
        return int(rows[0][0])

    # ---------------------------------------------------------------- writes
    def apply(self, ops: Sequence[WriteOp]) -> list[Any]:
        """Apply ``ops`` in one transaction; return each op's result after the commit.

        The commit happens before this returns, so a caller told "stored" can rely on it.
        """
        with self._write_lock:
            if self._closed:
                raise TerminalError("the store is closed")
            now = _utcnow()
            # ingested_at is the export clock: strictly increasing across commits.
            if now <= self._last_commit:
                now = self._last_commit + dt.timedelta(microseconds=1)
            conn = self._conn
            conn.execute("BEGIN")
            linked = LINKED_DEVICES.set(self._linked_devices)
            try:
                results = [op.apply(conn, now) for op in ops]
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    conn.execute("ROLLBACK")
                raise
            finally:
                LINKED_DEVICES.reset(linked)
            for op in ops:
                committed = getattr(op, "committed", None)
                if committed is not None:
                    committed()
            # an op may stamp rows a little after `now` (bulk streams): keep the clock ahead
            self._last_commit = max(
                [now]
                + [r.committed_at for r in results if isinstance(r, WriteResult) and r.committed_at]
            )
            for op in ops:
                op.cleanup(conn)
            return results

    @property
    def live_load(self) -> bool:
        """Whether the store runs on one thread for live traffic (:meth:`set_live_load`)."""
        return self._live_load

    def set_live_load(self, live: bool) -> None:
        """Under sustained live traffic (many small commits a second), run DuckDB on one
        thread; back to ``threads`` when the traffic stops.

        A live commit is a few small statements. On more threads DuckDB hands each of them to
        its worker threads, which costs more than it saves: measured on 640-event Snowplow
        commits, 47 µs of CPU per event on 2 threads against 36 on one, the same wall time,
        and the CPU saved goes to the requests (the collector's workers, the HTTP side).
        Queries that run meanwhile run on one thread too; the setting is the database's.
        """
        if live == self._live_load or self.threads <= 1:
            return
        with self._write_lock:
            if self._closed:
                return
            self._conn.execute(f"SET threads = {1 if live else self.threads}")
            self._live_load = live

    @property
    def last_commit(self) -> dt.datetime:
        """``ingested_at`` of the newest commit made by this process."""
        return self._last_commit

    def write_progress(self) -> float | None:
        """How far the running write statement has got, from 0 to 1 (None: not known)."""
        try:
            percent = self._conn.query_progress()
        except duckdb.Error:
            return None
        return percent / 100 if percent >= 0 else None

    def ingest_horizon(self) -> dt.datetime:
        """A time before which every commit is complete and visible.

        ``ingested_at`` is taken inside the write lock and only grows, so no commit still in
        flight, or made later, can have an ``ingested_at`` below the value returned. Exports
        that select by ``ingested_at`` use it as the end of what they may read.
        """
        with self._write_lock:
            now = _utcnow()
            return max(now, self._last_commit + dt.timedelta(microseconds=1))

    # ---------------------------------------------------------------- projects
    def create_project(
        self,
        name: str,
        timezone: str = "UTC",
        *,
        token: str | None = None,
        secret: str | None = None,
    ) -> Project:
        name = name.strip()
        if not name:
            raise InvalidInput("project name must not be empty", field="name")
        _check_timezone(timezone)
        with self._write_lock, contextlib.closing(self._cursor()) as cur:
            if cur.execute("SELECT 1 FROM projects WHERE name = ?", [name]).fetchone():
                raise AlreadyExists(f"a project named {name!r} already exists")
            row = cur.execute("SELECT coalesce(max(id), 0) + 1 FROM projects").fetchone()
            pid = int(row[0]) if row else 1
            project = Project(pid, name, token or new_token(), secret or new_token(), timezone)
            cur.execute(
                "INSERT INTO projects (id, name, token, secret, timezone) VALUES (?, ?, ?, ?, ?)",
                [project.id, project.name, project.token, project.secret, project.timezone],
            )
            self._projects = None
            return project

    def list_projects(self) -> list[Project]:
        cached = self._projects
        if cached is None:
            rows = self.query_rows(
                "SELECT id, name, token, secret, timezone, keep_profile_history FROM projects ORDER BY id"
            )
            cached = self._projects = [Project(*row) for row in rows]
        return list(cached)

    def get_project(self, ref: int | str | None = None) -> Project:
        """A project by id or name; the first project when ``ref`` is None."""
        projects = self.list_projects()
        if not projects:
            raise NotFound("no project exists yet; run `driftline init` first")
        if ref is None:
            return projects[0]
        for project in projects:
            if str(project.id) == str(ref) or project.name == str(ref):
                return project
        names = ", ".join(f"{p.id} ({p.name})" for p in projects)
        raise NotFound(f"no project {ref!r}; projects are: {names}")

    def project_by_credential(self, credential: str, *, kind: str) -> Project | None:
        """The project whose ``kind`` (``token`` or ``secret``) equals ``credential``."""
        if kind not in ("token", "secret"):
            raise ValueError(kind)
        for project in self.list_projects():
            if getattr(project, kind) == credential:
                return project
        return None


def _check_timezone(timezone: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"unknown timezone {timezone!r}; use an IANA name such as UTC or Europe/Berlin",
            field="timezone",
        ) from exc


def _quiet(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Never let the store print DuckDB's own progress bar over driftline's output."""
    conn.execute("SET enable_progress_bar_print = false")
    return conn


#: WAL size at which a commit checkpoints (DuckDB's default is 16 MB). Live traffic commits
#: small groups many times a second; at 16 MB a Snowplow collector under load checkpoints
#: every ~5,000 events, and those many small checkpoints (some of them far slower than their
#: data) cost more than the inserts: measured 25 µs of commit CPU per enriched event at 16 MB
#: against 9 µs plus 5 µs for the one checkpoint at the end. At 256 MB the WAL replays in
#: about a second after a crash (measured: 324 MB of WAL, 128,000 enriched events, 1.2 s).
CHECKPOINT_THRESHOLD = "256MB"


def _connect(path: Path, *, threads: int, memory_limit: str) -> duckdb.DuckDBPyConnection:
    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": str(threads),
        "memory_limit": memory_limit,
        "preserve_insertion_order": "false",
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "checkpoint_threshold": CHECKPOINT_THRESHOLD,
    }
    try:
        return _quiet(duckdb.connect(str(path), config=config))
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            match = _LOCK_PID.search(text)
            who = f"process {match.group(1)}" if match else "another process"
            raise StoreBusy(
                f"the data directory {path.parent} is in use by {who}; wait for it to finish, "
                "or start `driftline serve` so that commands share it"
            ) from None
        raise TerminalError(f"cannot open the store {path}: {text.splitlines()[0]}") from None
