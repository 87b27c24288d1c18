"""Write op for the fast path of `driftline import snowplow`: a whole enriched TSV file in one
transaction, read by the store itself.

Most enriched files are clean: every line has the 131 fields and every value parses. For such
a file DuckDB reads the (plain or gzip) file with its own CSV reader and casts the fields in
the same statement that inserts them into ``snowplow_events``; the driftline events are then
mapped from the rows just inserted (``events_sql``) and inserted by one more statement. Both
inserts may write in any order (parallel, cheaper); when two lines of the file are one
driftline event, both are written again in the file's order so that the later line wins, as
on the exact path. Earlier copies of the rows (a re-run import) are replaced and events are
deduplicated as on every bulk import (the newest copy wins), with the import
record, in the same transaction: nothing is copied through Python. When another op of the
same commit has written rows already, the rows go through a temporary table and
:class:`~driftline.store.snowplow.AppendEnriched`'s own storing code instead.

The fast path only ever stores what the exact path stores. The first line it cannot take as
the exact path would — a line with another field count, an empty line, a value that does not
cast, text that is not UTF-8 — stops the statement (``CAST`` or ``error()`` in the SQL, or
the CSV reader's own error), the transaction rolls back, nothing of the file is stored, and the
importer reads the file again on the exact path, which turns each such line into the same
``loader_parsing_error`` bad row as always.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import duckdb

from driftline.model import WriteResult
from driftline.store.ops import _EVENT_KEY_SQL, _settle_new_events
from driftline.store.snowplow import AppendEnriched, _columns

#: What the statement says when it stops at a line the fast path does not take.
REFUSED = "driftline: enriched line needs the exact import path"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _cast(source: str, name: str, kind: str) -> str:
    """SQL for one typed column: the value cast as the checked path casts it, or a stop.

    ``CAST`` fails exactly where the checked path's ``TRY_CAST`` gives NULL for a value
    that is not NULL (both are DuckDB's one cast, with or without its error), so one cast
    does both the check and the conversion.
    """
    if kind == "VARCHAR":
        return f'{source} AS "{name}"'
    return f'CAST({source} AS {kind}) AS "{name}"'


class AppendEnrichedFile(AppendEnriched):
    """One local enriched TSV file (plain or gzip) into ``snowplow_events`` and ``events``,
    with its import record, all or nothing. Raises (a DuckDB error) at the first line the
    exact path would treat otherwise; the caller then imports the file on the exact path."""

    mergeable = False

    def __init__(
        self,
        path: str,
        events_sql: str,
        *,
        project_id: int,
        gzip: bool,
        imports: list[tuple[int, str, str, int, int]] | None = None,
    ) -> None:
        super().__init__(None, events_sql, imports=imports, trusted=False)
        self.path = path
        self.project_id = project_id
        self.gzip = gzip
        self._refused: duckdb.Error | None = None

    def source_sql(self, columns: list[tuple[str, str]]) -> str:
        """The SELECT of ``project_id`` + the typed enriched columns from the file."""
        names = [f"c{i}" for i in range(len(columns))]
        spec = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in names) + "}"
        # the exact path skips no line: an empty line (all fields NULL) is a bad row there
        empty = " AND ".join(f"{c} IS NULL" for c in names[:4])
        casts = ", ".join(_cast(c, n, t) for c, (n, t) in zip(names, columns, strict=True))
        return f"""
        SELECT CASE WHEN {empty} THEN error('{REFUSED}')
                    ELSE {int(self.project_id)}::INTEGER END AS project_id, {casts}
        FROM read_csv({_literal(self.path)}, delim = '\t', quote = '', escape = '',
                      header = false, auto_detect = false, columns = {spec},
                      compression = '{"gzip" if self.gzip else "none"}',
                      null_padding = false, strict_mode = true, ignore_errors = false,
                      max_line_size = 8388608)
        """

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        if self._refused is not None:
            # the writer retries a failed op once on its own; the file has not changed
            raise self._refused
        columns = _columns(conn)
        if _stamped(conn, "snowplow_events", now) or _stamped(conn, "events", now):
            # another op of this commit wrote rows of stamp `now`: they must not be taken
            # for this file's, so the rows go through a table of their own first
            return self._apply_staged(conn, now, columns)
        try:
            count = self._insert(conn, now, columns, ordered=False)
        except duckdb.Error as exc:
            self._refused = exc
            raise
        if count == 0:
            return self._finish(conn, now, 0, None, 0)  # an empty file: its record only
        written = self._insert_events(conn, now, ordered=False)
        if written > 1 and _repeats(conn, now):
            # two lines of the file are one driftline event: the later line must win, so
            # both tables are written again in the file's order (rowid then tells)
            conn.execute("DELETE FROM events WHERE ingested_at = ?::TIMESTAMP", [now])
            conn.execute("DELETE FROM snowplow_events WHERE ingested_at = ?::TIMESTAMP", [now])
            self._insert(conn, now, columns, ordered=True)
            written = self._insert_events(conn, now, ordered=True)
        self._replace_older(conn, now)
        events = _settle_new_events(
            conn, WriteResult(rows=written, stored=written, committed_at=now), now, now
        )
        # self.rows stays 0: the writer counted this op's rows as 0 when it was submitted
        return replace(self._finish(conn, now, count, events, 0), rows=count)

    def _insert(
        self,
        conn: duckdb.DuckDBPyConnection,
        now: dt.datetime,
        columns: list[tuple[str, str]],
        *,
        ordered: bool,
    ) -> int:
        """The file's rows into ``snowplow_events``, stamped ``now``, in one statement."""
        names = ", ".join(f'"{n}"' for n, _ in columns)
        with _insertion_order(conn, ordered):
            row = conn.execute(
                f"""INSERT INTO snowplow_events (project_id, {names}, ingested_at)
                    SELECT *, $now::TIMESTAMP FROM ({self.source_sql(columns)})""",
                {"now": now},
            ).fetchone()
        return int(row[0]) if row else 0

    def _insert_events(
        self, conn: duckdb.DuckDBPyConnection, now: dt.datetime, *, ordered: bool
    ) -> int:
        """The driftline events of the rows stamped ``now``, mapped and inserted in SQL."""
        new = "(SELECT * FROM snowplow_events WHERE ingested_at = $now::TIMESTAMP)"
        sql = self.events_sql.replace("{enriched}", new)
        with _insertion_order(conn, ordered):
            row = conn.execute(
                f"INSERT INTO events SELECT *, $now::TIMESTAMP FROM ({sql})", {"now": now}
            ).fetchone()
        return int(row[0]) if row else 0

    def _replace_older(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
        """Delete earlier copies (same project, event id and collector time) of the rows
        stamped ``now``: a re-run import replaces rows, never doubles them."""
        new = "ingested_at = $now::TIMESTAMP"
        lo, hi = conn.execute(
            f"SELECT min(collector_tstamp), max(collector_tstamp) FROM snowplow_events WHERE {new}",
            {"now": now},
        ).fetchone() or (None, None)
        if lo is None:
            return
        span = {"now": now, "lo": lo, "hi": hi}
        window = "collector_tstamp BETWEEN $lo::TIMESTAMP AND $hi::TIMESTAMP"
        older = conn.execute(
            f"SELECT count(*) FROM snowplow_events WHERE {window} AND NOT ({new})", span
        ).fetchone()
        if not (older and older[0]):
            return
        conn.execute(
            f"""DELETE FROM snowplow_events s USING (
                    SELECT DISTINCT project_id, event_id, collector_tstamp
                    FROM snowplow_events WHERE {new}) n
                WHERE s.{window} AND s.ingested_at <> $now::TIMESTAMP
                  AND s.project_id = n.project_id AND s.event_id = n.event_id
                  AND s.collector_tstamp = n.collector_tstamp""",
            span,
        )

    def _apply_staged(
        self, conn: duckdb.DuckDBPyConnection, now: dt.datetime, columns: list[tuple[str, str]]
    ) -> WriteResult:
        """The rows through a temporary table, as :class:`AppendEnriched` stores them."""
        try:
            conn.execute(
                f"CREATE OR REPLACE TEMP TABLE {self._view}_enr AS {self.source_sql(columns)}"
            )
        except duckdb.Error as exc:
            self._refused = exc
            raise
        [(count,)] = conn.execute(f"SELECT count(*) FROM {self._view}_enr").fetchall()
        return replace(self._store_enriched(conn, now, columns, [], 0, None), rows=int(count))


def _stamped(conn: duckdb.DuckDBPyConnection, table: str, now: dt.datetime) -> bool:
    row = conn.execute(
        f"SELECT count(*) FROM {table} WHERE ingested_at = ?::TIMESTAMP", [now]
    ).fetchone()
    return bool(row and row[0])


def _repeats(conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> bool:
    """Whether two driftline events stamped ``now`` share a deduplication key."""
    row = conn.execute(
        f"""SELECT count(*) <> count(DISTINCT hash({_EVENT_KEY_SQL}))
            FROM events WHERE ingested_at = ?::TIMESTAMP""",
        [now],
    ).fetchone()
    return bool(row and row[0])


@contextlib.contextmanager
def _insertion_order(conn: duckdb.DuckDBPyConnection, ordered: bool) -> Iterator[None]:
    """Inserts in the source's order (``ordered``) or in any order (parallel, cheaper)."""
    previous = conn.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    conn.execute(f"SET preserve_insertion_order = {str(ordered).lower()}")
    try:
        yield
    finally:
        keep = bool(previous[0]) if previous else False
        conn.execute(f"SET preserve_insertion_order = {str(keep).lower()}")
