"""Write operations: the only way data enters the store.

A :class:`WriteOp` runs inside the writer's transaction. Ops that can be merged (many small
event batches from concurrent requests) say so, and the writer merges them before applying,
so a group commit of a thousand ``/track`` calls is one insert.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.errors import TerminalError
from driftline.model import EVENT_SCHEMA, WriteResult

_names = itertools.count()
_EVENT_KEY = ("project_id", "event", "distinct_id", "time", "insert_id")


class WriteOp(Protocol):
    rows: int

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> Any:
        """Apply inside the open transaction; ``now`` is this commit's ``ingested_at``."""

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Release anything registered on ``conn`` (after commit or rollback)."""

    # optional: ``committed(self) -> None``, called once the transaction has committed


def as_json(table: pa.Table, *names: str) -> pa.Table:
    """``table`` with its text columns ``names`` typed as Arrow's JSON extension type, which
    DuckDB stores in a JSON column as it is, without parsing it. Only for text that a JSON
    encoder wrote (valid by construction); text from outside is cast, and so checked."""
    json_type = pa.json_(pa.string())
    for name in names:
        index = table.schema.get_field_index(name)
        if index < 0 or table.schema.field(index).type != pa.string():
            continue
        chunks = [pa.ExtensionArray.from_storage(json_type, c) for c in table.column(index).chunks]
        table = table.set_column(index, name, pa.chunked_array(chunks, json_type))
    return table


class LinkedDevices:
    """Devices known to have their row in ``identities``, by project: committed rows only.

    Identities are written once (``INSERT OR IGNORE``) and never removed, so linking a
    device in here again would change nothing. A live commit whose linking events all come
    from known devices skips that statement and its fixed cost (~1.7 ms a commit, however
    few rows). Only :class:`AppendEvents` fills it, after its commit; rows written by other
    paths are simply not known here, and those devices take the statement once more.
    """

    #: devices remembered before the set starts again from empty (~120 bytes each: ~30 MB)
    LIMIT = 250_000

    def __init__(self) -> None:
        self._known: dict[int, set[str]] = {}
        self._size = 0

    def covers(self, project_id: int, devices: list[str]) -> bool:
        known = self._known.get(project_id)
        return known is not None and known.issuperset(devices)

    def add(self, project_id: int, devices: list[str]) -> None:
        if self._size + len(devices) > self.LIMIT:
            self._known.clear()
            self._size = 0
        known = self._known.setdefault(project_id, set())
        before = len(known)
        known.update(devices)
        self._size += len(known) - before


#: the store's :class:`LinkedDevices` while it applies ops (set by ``DuckDBStore.apply``)
LINKED_DEVICES: ContextVar[LinkedDevices | None] = ContextVar("linked_devices", default=None)


def _linking_devices(table: pa.Table) -> tuple[int, list[str]] | None:
    """(project, distinct device ids) of the rows that link a device to a user, or None when
    they belong to several projects."""
    mask = pc.and_(pc.is_valid(table.column("device_id")), pc.is_valid(table.column("user_id")))
    projects = pc.unique(pc.filter(table.column("project_id"), mask))
    if len(projects) != 1:
        return None
    devices = pc.unique(pc.filter(table.column("device_id"), mask))
    return int(projects[0].as_py()), devices.to_pylist()


class AppendEvents:
    """Append events with deduplication and identity linking.

    Deduplication as Mixpanel does it: events with the same (event, distinct_id, time,
    insert_id) are one event, and the last one ingested wins. The older copy is deleted in
    the same transaction, so every reader sees each event once.
    """

    mergeable = True

    def __init__(self, table: pa.Table, *, sources: int = 0, json_encoded: bool = False) -> None:
        if table.schema != EVENT_SCHEMA:
            table = table.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
        self.table = table
        self.rows = table.num_rows
        #: client requests whose events these are (live ingestion; see the writer)
        self.sources = sources
        #: the properties text came from driftline's own JSON encoder: DuckDB need not parse
        #: it again on insert (it does for text of any other origin)
        self.json_encoded = json_encoded
        #: (the store's LinkedDevices, (project, devices)) this op linked, for committed()
        self._linked: tuple[LinkedDevices | None, tuple[int, list[str]] | None] = (None, None)

    @classmethod
    def merge(cls, ops: list[AppendEvents]) -> AppendEvents:
        if len(ops) == 1:
            return ops[0]
        return cls(
            pa.concat_tables([op.table for op in ops]),
            sources=sum(op.sources for op in ops),
            json_encoded=all(op.json_encoded for op in ops),
        )

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        if self.rows == 0:
            return WriteResult(committed_at=now)
        # Collapsing duplicates, the time bounds and "does any row link a device to a user"
        # are computed in Arrow: a live-traffic commit is two statements, not eight.
        # Arrow row order is ingestion order; the later copy of a duplicate wins.
        table = _last_of_each_key(self.table, _EVENT_KEY)
        bounds = pc.min_max(table.column("time"))
        links = pc.any(
            pc.and_(pc.is_valid(table.column("device_id")), pc.is_valid(table.column("user_id")))
        ).as_py()
        # DuckDB reads the Arrow table through a replacement scan of this local variable:
        # no view to register and drop, two calls into DuckDB fewer per commit
        _incoming_events = as_json(table, "properties") if self.json_encoded else table
        replaced_row = conn.execute(
            """DELETE FROM events e USING _incoming_events n
                WHERE e.time BETWEEN ?::TIMESTAMP AND ?::TIMESTAMP
                  AND e.project_id = n.project_id AND e.event = n.event
                  AND e.distinct_id = n.distinct_id AND e.time = n.time
                  AND e.insert_id = n.insert_id""",
            [bounds["min"].as_py(), bounds["max"].as_py()],
        ).fetchone()
        replaced = int(replaced_row[0]) if replaced_row else 0
        conn.execute(
            """INSERT INTO events
                SELECT project_id, event, time, distinct_id, device_id, user_id, insert_id,
                       properties, origin, origin_key, ?::TIMESTAMP FROM _incoming_events""",
            [now],
        )
        known = LINKED_DEVICES.get() if links else None
        linking = _linking_devices(table) if known is not None else None
        if links and (known is None or linking is None or not known.covers(*linking)):
            # Simplified ID merge: the first user seen with a device keeps it.
            self._linked = (known, linking)
            conn.execute(
                """INSERT OR IGNORE INTO identities
                    SELECT project_id, device_id, arg_min(user_id, time), ?::TIMESTAMP
                    FROM _incoming_events
                    WHERE device_id IS NOT NULL AND user_id IS NOT NULL
                    GROUP BY project_id, device_id""",
                [now],
            )
        return WriteResult(
            rows=self.rows, stored=table.num_rows, replaced=replaced, committed_at=now
        )

    def committed(self) -> None:
        """After the commit: the devices this op linked are now known to be linked."""
        known, linking = self._linked
        if known is not None and linking is not None:
            known.add(*linking)

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Nothing registered on the connection."""


class _ArrowOp:
    """An op that registers one Arrow table on the connection under a unique name."""

    mergeable = False

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.rows = table.num_rows
        self._view = f"_op_{next(_names)}"

    def _register(self, conn: duckdb.DuckDBPyConnection) -> str:
        conn.register(self._view, self.table)
        return self._view

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        with contextlib.suppress(duckdb.Error):
            conn.unregister(self._view)


class UpsertProfiles(_ArrowOp):
    """Set whole user profiles: ``(project_id, distinct_id, properties)`` rows replace the
    stored ones (last row wins within a batch)."""

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        view = self._register(conn)
        conn.execute(
            f"""INSERT OR REPLACE INTO profiles (project_id, distinct_id, properties, updated_at, origin)
                SELECT project_id, distinct_id, last(properties), ?::TIMESTAMP, last(origin)
                FROM {view} GROUP BY project_id, distinct_id""",
            [now],
        )
        return WriteResult(rows=self.rows, stored=self.rows, committed_at=now)


class UpsertGroups(_ArrowOp):
    """Set whole group profiles: ``(project_id, group_key, group_id, properties)`` rows."""

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        view = self._register(conn)
        conn.execute(
            f"""INSERT OR REPLACE INTO groups (project_id, group_key, group_id, properties, updated_at, origin)
                SELECT project_id, group_key, group_id, last(properties), ?::TIMESTAMP, last(origin)
                FROM {view} GROUP BY project_id, group_key, group_id""",
            [now],
        )
        return WriteResult(rows=self.rows, stored=self.rows, committed_at=now)


class LookupLimitExceeded(TerminalError):
    """A lookup-table replacement would pass one of the project's limits."""

    def __init__(self, message: str, *, status: int, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ReplaceLookupTable(_ArrowOp):
    """Replace a lookup table whole: rows ``(row_id, properties)``; ``property`` names the
    event property whose values are the table's ids.

    Mixpanel's limits are checked in the same transaction, so concurrent uploads cannot
    pass them together: at most ``max_per_day`` replacements per project in a rolling 24
    hours (429), and at most ``max_rows`` rows across all of a project's tables (413).
    """

    def __init__(
        self,
        project_id: int,
        table_id: str,
        name: str,
        property: str | None,
        rows: pa.Table,
        *,
        max_rows: int | None = None,
        max_per_day: int | None = None,
    ) -> None:
        super().__init__(rows)
        self.project_id = project_id
        self.table_id = table_id
        self.name = name
        self.property = property
        self.max_rows = max_rows
        self.max_per_day = max_per_day

    def _check_limits(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
        if self.max_per_day is not None:
            row = conn.execute(
                """SELECT count(*), min(replaced_at) FROM lookup_replacements
                   WHERE project_id = ? AND replaced_at > ?::TIMESTAMP""",
                [self.project_id, now - dt.timedelta(days=1)],
            ).fetchall()[0]
            done, oldest = row[0], row[1]
            if done >= self.max_per_day:
                wait = 60
                if oldest is not None:
                    wait = max(int((oldest + dt.timedelta(days=1) - now).total_seconds()) + 1, 1)
                raise LookupLimitExceeded(
                    f"lookup tables of this project were replaced {done} times in the last "
                    f"24 hours; the limit is {self.max_per_day}. Retry after {wait} seconds.",
                    status=429,
                    retry_after=wait,
                )
        if self.max_rows is not None:
            row = conn.execute(
                "SELECT count(*) FROM lookup_rows WHERE project_id = ? AND table_id <> ?",
                [self.project_id, self.table_id],
            ).fetchall()[0]
            others = int(row[0])
            if others + self.rows > self.max_rows:
                raise LookupLimitExceeded(
                    f"lookup tables of a project may hold at most {self.max_rows:,} rows in "
                    f"all; this table has {self.rows:,} and the project's other tables "
                    f"{others:,}. Split off or delete rows and upload again.",
                    status=413,
                )

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        self._check_limits(conn, now)
        view = self._register(conn)
        conn.execute(
            "INSERT INTO lookup_replacements VALUES (?, ?, ?::TIMESTAMP)",
            [self.project_id, self.table_id, now],
        )
        conn.execute(
            "INSERT OR REPLACE INTO lookup_tables VALUES (?, ?, ?, ?, ?::TIMESTAMP)",
            [self.project_id, self.table_id, self.name, self.property, now],
        )
        conn.execute(
            "DELETE FROM lookup_rows WHERE project_id = ? AND table_id = ?",
            [self.project_id, self.table_id],
        )
        conn.execute(
            f"""INSERT INTO lookup_rows SELECT ?, ?, row_id, last(properties) FROM {view} GROUP BY row_id""",
            [self.project_id, self.table_id],
        )
        return WriteResult(rows=self.rows, stored=self.rows, committed_at=now)


class AppendEventStream:
    """Append a stream of event tables in one transaction (bulk imports).

    The whole stream goes into the store as ONE insert statement that pulls the tables as
    the producer finishes them, so reading and validating the next table overlaps with
    writing this one and the store writes whole, compressed row groups straight to its file
    (several inserts would leave the same work for a later checkpoint).

    Deduplication is the same as :class:`AppendEvents`': the last ingested copy of a key
    wins. Table *i* of the stream is stamped ``ingested_at = now + i µs``; duplicates inside
    one table are collapsed before it is written, and after the insert every older copy of a
    key (earlier in the stream, or already stored) is deleted, in the same transaction.
    Holds the writer until the stream ends: for bulk loads, not for live traffic.

    A table may carry a ``_key_hash`` column: a hash of the key or of part of it (equal
    keys, equal hashes; e.g. DuckDB's ``hash(insert_id)``). When no two of its values are
    equal, the table has no duplicate key and the (costlier) collapse is skipped.
    """

    mergeable = False
    _KEY = ("project_id", "event", "distinct_id", "time", "insert_id")

    def __init__(self, tables: Iterable[pa.Table], rows: int = 0) -> None:
        self.tables = tables
        self.rows = rows
        self._view = f"_stream_{next(_names)}"
        self._schema = EVENT_SCHEMA.append(
            pa.field("ingested_at", pa.timestamp("us"), nullable=False)
        )

    def _batches(self, now: dt.datetime, counts: dict[str, int]) -> Iterator[pa.RecordBatch]:
        for i, table in enumerate(self.tables):
            hashes = table.column(KEY_HASH) if KEY_HASH in table.schema.names else None
            if table.schema != EVENT_SCHEMA:
                table = table.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
            counts["rows"] += table.num_rows
            if hashes is None or _repeats(hashes):
                table = _last_of_each_key(table, self._KEY)
            stamp = pa.scalar(now + dt.timedelta(microseconds=i), pa.timestamp("us"))
            table = table.append_column(
                self._schema.field("ingested_at"),
                pa.array(np.full(table.num_rows, stamp.value), pa.int64()).cast(pa.timestamp("us")),
            )
            counts["stored"] += table.num_rows
            counts["tables"] = i + 1
            yield from table.to_batches()

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        counts = {"rows": 0, "stored": 0, "tables": 0}
        reader = pa.RecordBatchReader.from_batches(self._schema, self._batches(now, counts))
        conn.register(self._view, reader)
        conn.execute(f"INSERT INTO events SELECT * FROM {self._view}")
        last = now + dt.timedelta(microseconds=max(counts["tables"] - 1, 0))
        result = WriteResult(rows=counts["rows"], stored=counts["stored"], committed_at=last)
        return _settle_new_events(conn, result, now, last)

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        with contextlib.suppress(duckdb.Error):
            conn.unregister(self._view)


_EVENT_KEY_SQL = ", ".join(_EVENT_KEY)


def _new_rows_stats(
    conn: duckdb.DuckDBPyConnection, now: dt.datetime, last: dt.datetime
) -> tuple[Any, Any, int, int]:
    """(min time, max time, rows, distinct keys) of the rows stamped ``now``..``last``."""
    row = conn.execute(
        f"""SELECT min(time), max(time), count(*), count(DISTINCT hash({_EVENT_KEY_SQL}))
            FROM events WHERE ingested_at BETWEEN ?::TIMESTAMP AND ?::TIMESTAMP""",
        [now, last],
    ).fetchall()
    lo, hi, n, distinct = row[0] if row else (None, None, 0, 0)
    return lo, hi, int(n or 0), int(distinct or 0)


def _settle_new_events(
    conn: duckdb.DuckDBPyConnection, result: WriteResult, now: dt.datetime, last: dt.datetime,
    stats: tuple[Any, Any, int, int] | None = None,
) -> WriteResult:  # fmt: skip
    """After a bulk insert stamped ``now``..``last``: keep one copy of each key and link the
    new identities, in the insert's transaction.

    The copy kept is the last ingested (the newest ``ingested_at``; among rows of one stamp,
    the one inserted last). ``result.stored`` and ``result.replaced`` are corrected.
    """
    if result.stored == 0:
        return result
    new = "ingested_at BETWEEN ?::TIMESTAMP AND ?::TIMESTAMP"
    span = [now, last]
    lo, hi, n, distinct = stats or _new_rows_stats(conn, now, last)
    older = conn.execute(
        f"SELECT count(*) FROM events WHERE time BETWEEN ?::TIMESTAMP AND ?::TIMESTAMP AND NOT ({new})",
        [lo, hi, *span],
    ).fetchone()
    if n != distinct or (older and older[0]):
        # some key occurs more than once: keep its newest copy only
        deleted = conn.execute(
            f"""DELETE FROM events WHERE rowid IN (
                    SELECT e.rowid FROM events e
                    SEMI JOIN (SELECT DISTINCT {_EVENT_KEY_SQL} FROM events WHERE {new}) n
                      USING (project_id, event, distinct_id, time, insert_id)
                    WHERE e.time BETWEEN ?::TIMESTAMP AND ?::TIMESTAMP
                    QUALIFY row_number() OVER (
                      PARTITION BY e.project_id, e.event, e.distinct_id, e.time, e.insert_id
                      ORDER BY e.ingested_at DESC, e.rowid DESC) > 1)""",
            [*span, lo, hi],
        ).fetchone()
        removed = int(deleted[0]) if deleted else 0
        within = conn.execute(f"SELECT {n} - count(*) FROM events WHERE {new}", span).fetchone()
        dropped_new = int(within[0]) if within else 0
        result.stored -= dropped_new
        result.replaced = removed - dropped_new
    conn.execute(
        f"""INSERT OR IGNORE INTO identities
            SELECT project_id, device_id, arg_min(user_id, time), ?::TIMESTAMP
            FROM events
            WHERE {new} AND device_id IS NOT NULL AND user_id IS NOT NULL
            GROUP BY project_id, device_id""",
        [now, *span],
    )
    return result


class InsertEventsQuery:
    """Append the rows of a query the store runs itself (bulk imports of files it can read).

    ``sql`` gives the events table's columns but ``ingested_at``, with ``params`` as its
    named parameters. The rows go in as one insert statement, in the order the query gives
    them; deduplication is :class:`AppendEventStream`'s, and of two rows with one key in the
    query, the later one wins. An error from the query rolls the whole transaction back.
    """

    mergeable = False
    rows = 0  # unknown until it runs; it holds the writer while it does
    #: a failure is the query refusing its input: running it again would only repeat it
    retry = False

    def __init__(
        self, sql: str, params: dict[str, Any], *, refuse_repeats: str | None = None
    ) -> None:
        self.sql = sql
        self.params = params
        #: the query reads a stream, which cannot be read twice: when two of its rows share
        #: a key, the op fails with this message instead of writing them again in order
        self.refuse_repeats = refuse_repeats

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        # Written in any order (parallel, and cheaper), unless two rows of the query share a
        # key: then the rows are written again in the query's order, so that rowid tells the
        # later copy. That needs this op's rows to be the only ones of stamp `now`.
        stamped = conn.execute(
            "SELECT count(*) FROM events WHERE ingested_at = ?::TIMESTAMP", [now]
        ).fetchone()
        alone = not (stamped and stamped[0])
        count = self._insert(conn, now, ordered=not alone)
        stats = _new_rows_stats(conn, now, now) if count else None
        if alone and stats is not None and stats[2] != stats[3]:
            if self.refuse_repeats is not None:
                raise duckdb.InvalidInputException(self.refuse_repeats)
            conn.execute("DELETE FROM events WHERE ingested_at = ?::TIMESTAMP", [now])
            count = self._insert(conn, now, ordered=True)
            stats = None  # counted again on the rows as they are now
        result = WriteResult(rows=count, stored=count, committed_at=now)
        return _settle_new_events(conn, result, now, now, stats)

    def _insert(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime, *, ordered: bool) -> int:
        previous = conn.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
        conn.execute(f"SET preserve_insertion_order = {str(ordered).lower()}")
        # let DuckDBStore.write_progress see how far it has got (never printed)
        conn.execute("SET enable_progress_bar = true")
        conn.execute("SET enable_progress_bar_print = false")
        try:
            row = conn.execute(
                f"INSERT INTO events SELECT *, $ingested_at::TIMESTAMP FROM ({self.sql})",
                {**self.params, "ingested_at": now},
            ).fetchone()
        except duckdb.Error:
            abandon_transaction(conn)  # so that the setting below can be put back
            raise
        finally:
            keep = bool(previous[0]) if previous else False
            conn.execute(f"SET preserve_insertion_order = {str(keep).lower()}")
        return int(row[0]) if row else 0

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        pass


def abandon_transaction(conn: duckdb.DuckDBPyConnection) -> None:
    """Roll back a transaction a statement has failed in (the whole group fails with it;
    the store's own rollback then finds nothing to do)."""
    with contextlib.suppress(duckdb.Error):
        conn.execute("ROLLBACK")


#: optional column of an :class:`AppendEventStream` table: a hash of the deduplication key
KEY_HASH = "_key_hash"


def _repeats(hashes: pa.ChunkedArray | pa.Array) -> bool:
    """Whether two of ``hashes`` are equal (a sort of plain integers: cheap)."""
    values = hashes.to_numpy()
    if len(values) < 2:
        return False
    values = np.sort(values, kind="stable")
    return bool((values[1:] == values[:-1]).any())


def _last_of_each_key(table: pa.Table, key: tuple[str, ...]) -> pa.Table:
    """``table`` with only the last row of each key (rows later in the table win)."""
    if table.num_rows < 2:
        return table
    indexed = table.select(list(key)).append_column("_i", pa.array(np.arange(table.num_rows)))
    last = indexed.group_by(list(key), use_threads=False).aggregate([("_i", "max")])
    if last.num_rows == table.num_rows:
        return table
    keep = pc.sort_indices(last.column("_i_max"))
    return table.take(pc.take(last.column("_i_max"), keep))
