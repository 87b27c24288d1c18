"""Write operations: the only way data enters the store.

A :class:`WriteOp` runs inside the writer's transaction. Ops that can be merged (many small
event batches from concurrent requests) say so, and the writer merges them before applying,
so a group commit of a thousand ``/track`` calls is one insert.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterable
from typing import Any, Protocol

import duckdb
import numpy as np
import pyarrow as pa

from driftline.model import EVENT_SCHEMA, WriteResult

_names = itertools.count()


class WriteOp(Protocol):
    rows: int

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> Any:
        """Apply inside the open transaction; ``now`` is this commit's ``ingested_at``."""

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Release anything registered on ``conn`` (after commit or rollback)."""


class AppendEvents:
    """Append events with deduplication and identity linking.

    Deduplication as Mixpanel does it: events with the same (event, distinct_id, time,
    insert_id) are one event, and the last one ingested wins. The older copy is deleted in
    the same transaction, so every reader sees each event once.
    """

    mergeable = True

    def __init__(self, table: pa.Table) -> None:
        if table.schema != EVENT_SCHEMA:
            table = table.select(EVENT_SCHEMA.names).cast(EVENT_SCHEMA)
        self.table = table
        self.rows = table.num_rows
        self._view = f"_incoming_{next(_names)}"
        self._materialized = False

    @classmethod
    def merge(cls, ops: list[AppendEvents]) -> AppendEvents:
        if len(ops) == 1:
            return ops[0]
        return cls(pa.concat_tables([op.table for op in ops]))

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        if self.rows == 0:
            return WriteResult(committed_at=now)
        view = self._view
        # Arrow row order is ingestion order; the later copy of a duplicate wins.
        table = self.table.append_column("_seq", pa.array(np.arange(self.rows, dtype=np.int64)))
        conn.register(view, table)
        key = "project_id, event, distinct_id, time, insert_id"
        # Fast path: when no two rows share a key hash, there is nothing to collapse.
        dup = conn.execute(f"SELECT count(*) <> count(DISTINCT hash({key})) FROM {view}").fetchone()
        if dup and dup[0]:
            conn.execute(
                f"""CREATE OR REPLACE TEMP TABLE {view}_d AS SELECT * EXCLUDE (_seq) FROM {view}
                    QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _seq DESC) = 1"""
            )
        else:
            conn.execute(
                f"CREATE OR REPLACE TEMP VIEW {view}_d AS SELECT * EXCLUDE (_seq) FROM {view}"
            )
        self._materialized = bool(dup and dup[0])
        bounds = conn.execute(f"SELECT min(time), max(time) FROM {view}_d").fetchone() or (
            None,
            None,
        )
        replaced_row = conn.execute(
            f"""DELETE FROM events e USING {view}_d n
                WHERE e.time BETWEEN ?::TIMESTAMP AND ?::TIMESTAMP
                  AND e.project_id = n.project_id AND e.event = n.event
                  AND e.distinct_id = n.distinct_id AND e.time = n.time
                  AND e.insert_id = n.insert_id""",
            [bounds[0], bounds[1]],
        ).fetchone()
        replaced = int(replaced_row[0]) if replaced_row else 0
        conn.execute(
            f"""INSERT INTO events
                SELECT project_id, event, time, distinct_id, device_id, user_id, insert_id,
                       properties, origin, origin_key, ?::TIMESTAMP FROM {view}_d""",
            [now],
        )
        stored = self.rows
        if self._materialized:
            stored_row = conn.execute(f"SELECT count(*) FROM {view}_d").fetchone()
            stored = int(stored_row[0]) if stored_row else 0
        # Simplified ID merge: the first user seen with a device keeps it.
        conn.execute(
            f"""INSERT OR IGNORE INTO identities
                SELECT project_id, device_id, arg_min(user_id, time), ?::TIMESTAMP
                FROM {view}_d
                WHERE device_id IS NOT NULL AND user_id IS NOT NULL
                GROUP BY project_id, device_id""",
            [now],
        )
        return WriteResult(rows=self.rows, stored=stored, replaced=replaced, committed_at=now)

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        try:
            kind = "TABLE" if self._materialized else "VIEW"
            conn.execute(f"DROP {kind} IF EXISTS {self._view}_d")
            conn.unregister(self._view)
        except duckdb.Error:
            pass


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


class ReplaceLookupTable(_ArrowOp):
    """Replace a lookup table whole: rows ``(row_id, properties)``; ``property`` names the
    event property whose values are the table's ids."""

    def __init__(
        self, project_id: int, table_id: str, name: str, property: str | None, rows: pa.Table
    ) -> None:
        super().__init__(rows)
        self.project_id = project_id
        self.table_id = table_id
        self.name = name
        self.property = property

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        view = self._register(conn)
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

    The producer of ``tables`` keeps reading and validating the next table while the store
    writes the current one, and a single commit at the end lets the store write whole row
    groups straight to its file. Holds the writer until the stream ends: for bulk loads
    that own the store, not for a server taking live traffic.
    """

    mergeable = False

    def __init__(self, tables: Iterable[pa.Table], rows: int = 0) -> None:
        self.tables = tables
        self.rows = rows
        self._applied: list[AppendEvents] = []

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        total = WriteResult(committed_at=now)
        for table in self.tables:
            op = AppendEvents(table)
            self._applied.append(op)
            result = op.apply(conn, now)
            total.rows += result.rows
            total.stored += result.stored
            total.replaced += result.replaced
        return total

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        for op in self._applied:
            op.cleanup(conn)
        self._applied.clear()
