"""Write op for the fast path of `driftline import snowplow`: a whole enriched TSV file in one
transaction, read by the store itself.

Most enriched files are clean: every line has the 131 fields and every value parses. For such
a file DuckDB reads the (plain or gzip) file with its own CSV reader straight into the 131
text columns, casts them to the column types in SQL and the rows go on exactly as those of
:class:`~driftline.store.snowplow.AppendEnriched` (the same replacement of earlier copies, the
same event mapping, the same import record, in the same transaction): nothing is copied
through Python.

The fast path only ever stores what the exact path stores. The first line it cannot take as
the exact path would — a line with another field count, an empty line, a value that does not
cast, text that is not UTF-8 — stops the statement (``error()`` in the SQL, or the CSV
reader's own error), the transaction rolls back, nothing of the file is stored, and the
importer reads the file again on the exact path, which turns each such line into the same
``loader_parsing_error`` bad row as always.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import duckdb

from driftline.model import WriteResult
from driftline.store.snowplow import AppendEnriched, _columns

#: What the statement says when it stops at a line the fast path does not take.
REFUSED = "driftline: enriched line needs the exact import path"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _cast(source: str, name: str, kind: str) -> str:
    """SQL for one typed column: the value cast as the checked path casts it, or a stop."""
    if kind == "VARCHAR":
        return f'{source} AS "{name}"'
    return (
        f"CASE WHEN {source} IS NOT NULL AND TRY_CAST({source} AS {kind}) IS NULL "
        f"THEN error('{REFUSED}') ELSE TRY_CAST({source} AS {kind}) END AS \"{name}\""
    )


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
        try:
            conn.execute(
                f"CREATE OR REPLACE TEMP TABLE {self._view}_enr AS {self.source_sql(columns)}"
            )
        except duckdb.Error as exc:
            self._refused = exc
            raise
        [(count,)] = conn.execute(f"SELECT count(*) FROM {self._view}_enr").fetchall()
        result = self._store_enriched(conn, now, columns, [], 0, None)
        # self.rows stays 0: the writer counted this op's rows as 0 when it was submitted
        return replace(result, rows=int(count))
