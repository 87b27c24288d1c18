"""Write op for Snowplow data: enriched TSV lines into ``snowplow_events`` and ``events``.

:class:`AppendEnriched` carries enriched-event TSV lines (``project_id``, ``line``), bad
rows, and bookkeeping rows (files imported, stream checkpoints) that must commit together
with the data. In the writer's transaction it

1. splits every line into the 131 columns of ``snowplow_events`` and casts them to the
   column types, in one vectorized statement (lines from outside — imports — are checked:
   a wrong field count or a value that does not cast makes the line a ``loader_parsing_error``
   bad row instead);
2. appends them to ``snowplow_events``, replacing an earlier copy with the same
   ``(project_id, event_id, collector_tstamp)`` so that a re-run import never doubles rows;
3. maps them to driftline events with ``events_sql`` (given by the Snowplow subsystem; it
   selects EVENT_SCHEMA columns from the ``{enriched}`` relation) and appends those with
   :class:`~driftline.store.ops.AppendEvents` (deduplicated like every event);
4. stores bad rows, import records and checkpoints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from typing import Any

import duckdb
import pyarrow as pa

from driftline.model import WriteResult
from driftline.store.ops import AppendEvents

LINES_SCHEMA = pa.schema([pa.field("project_id", pa.int32()), pa.field("line", pa.string())])
BAD_ROWS_SCHEMA = pa.schema(
    [
        pa.field("project_id", pa.int32()),
        pa.field("kind", pa.string()),
        pa.field("schema", pa.string()),
        pa.field("payload", pa.string()),
    ]
)
_names = itertools.count()
_columns_cache: dict[int, list[tuple[str, str]]] = {}


def _columns(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """``snowplow_events``'s enriched columns (name, type), in order."""
    key = id(conn)
    if key not in _columns_cache:
        rows = conn.execute(
            """SELECT column_name, data_type FROM information_schema.columns
               WHERE table_name = 'snowplow_events' AND table_schema = 'main'
               ORDER BY ordinal_position"""
        ).fetchall()
        _columns_cache[key] = [(n, t) for n, t in rows if n not in ("project_id", "ingested_at")]
    return _columns_cache[key]


class AppendEnriched:
    mergeable = True

    def __init__(
        self,
        lines: pa.Table | None,
        events_sql: str,
        *,
        bad_rows: pa.Table | None = None,
        imports: list[tuple[int, str, str, int, int]] | None = None,
        checkpoints: list[tuple[int, str, str, str]] | None = None,
        trusted: bool = False,
    ) -> None:
        self.lines = lines if lines is not None else LINES_SCHEMA.empty_table()
        self.bad_rows = bad_rows if bad_rows is not None else BAD_ROWS_SCHEMA.empty_table()
        self.events_sql = events_sql
        self.imports = imports or []
        self.checkpoints = checkpoints or []
        self.trusted = trusted
        self.rows = self.lines.num_rows + self.bad_rows.num_rows
        self._view = f"_sp_{next(_names)}"
        self._events: AppendEvents | None = None

    @classmethod
    def merge(cls, ops: list[AppendEnriched]) -> AppendEnriched:
        if len(ops) == 1:
            return ops[0]
        return cls(
            pa.concat_tables([op.lines for op in ops]),
            ops[0].events_sql,
            bad_rows=pa.concat_tables([op.bad_rows for op in ops]),
            imports=[i for op in ops for i in op.imports],
            checkpoints=[c for op in ops for c in op.checkpoints],
            trusted=all(op.trusted for op in ops),
        )

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        view = self._view
        stored = invalid = 0
        events: Any = None
        if self.lines.num_rows:
            conn.register(f"{view}_in", self.lines)
            columns = _columns(conn)
            casts = ", ".join(
                f"TRY_CAST(nullif(p[{i + 1}], '') AS {t}) AS {n}"
                for i, (n, t) in enumerate(columns)
            )
            source = f"(SELECT project_id, line, string_split(line, chr(9)) AS p FROM {view}_in)"
            if not self.trusted:
                conn.execute(f"CREATE OR REPLACE TEMP TABLE {view}_split AS SELECT * FROM {source}")
                invalid = self._split_invalid(conn, columns, now)
                source = f"{view}_split"
            conn.execute(
                f"CREATE OR REPLACE TEMP TABLE {view}_enr AS SELECT project_id, {casts} FROM {source}"
            )
            bounds = conn.execute(
                f"SELECT min(collector_tstamp), max(collector_tstamp), count(*) FROM {view}_enr"
            ).fetchone()
            assert bounds is not None
            stored = int(bounds[2])
            if stored:
                conn.execute(
                    f"""DELETE FROM snowplow_events s USING {view}_enr n
                        WHERE s.collector_tstamp BETWEEN ?::TIMESTAMP AND ?::TIMESTAMP
                          AND s.project_id = n.project_id AND s.event_id = n.event_id
                          AND s.collector_tstamp = n.collector_tstamp""",
                    [bounds[0], bounds[1]],
                )
                names = ", ".join(n for n, _ in columns)
                conn.execute(
                    f"""INSERT INTO snowplow_events (project_id, {names}, ingested_at)
                        SELECT project_id, {names}, ?::TIMESTAMP FROM {view}_enr""",
                    [now],
                )
                table = conn.sql(
                    self.events_sql.replace("{enriched}", f"{view}_enr")
                ).to_arrow_table()
                self._events = AppendEvents(table)
                events = self._events.apply(conn, now)
        if self.bad_rows.num_rows:
            conn.register(f"{view}_bad", self.bad_rows)
            conn.execute(
                f"""INSERT INTO bad_rows SELECT project_id, ?::TIMESTAMP, kind, schema, payload::JSON
                    FROM {view}_bad""",
                [now],
            )
        for project_id, source, fingerprint, count, bad in self.imports:
            conn.execute(
                "INSERT OR REPLACE INTO snowplow_imports VALUES (?, ?, ?, ?, ?, ?::TIMESTAMP)",
                [project_id, source, fingerprint, count, bad, now],
            )
        for project_id, stream, shard, sequence in self.checkpoints:
            conn.execute(
                "INSERT OR REPLACE INTO snowplow_checkpoints VALUES (?, ?, ?, ?, ?::TIMESTAMP)",
                [project_id, stream, shard, sequence, now],
            )
        return WriteResult(
            rows=self.rows,
            stored=stored,
            replaced=getattr(events, "replaced", 0),
            committed_at=now,
            extra={"bad_rows": self.bad_rows.num_rows + invalid, "invalid_lines": invalid},
        )

    def _split_invalid(
        self, conn: duckdb.DuckDBPyConnection, columns: list[tuple[str, str]], now: dt.datetime
    ) -> int:
        """Move lines that are not valid enriched events to ``bad_rows``; return how many."""
        view = self._view
        width = len(columns)
        failing = ", ".join(
            f"CASE WHEN p[{i + 1}] <> '' AND TRY_CAST(p[{i + 1}] AS {t}) IS NULL THEN '{n}' END"
            for i, (n, t) in enumerate(columns)
            if t != "VARCHAR"
        )
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE {view}_chk AS
                SELECT *, CASE WHEN len(p) <> {width}
                          THEN 'expected {width} tab-separated fields, got ' || len(p)
                          ELSE nullif(concat_ws(', ', {failing}), '') END AS problem
                FROM {view}_split"""
        )
        row = conn.execute(f"SELECT count(*) FROM {view}_chk WHERE problem IS NOT NULL").fetchone()
        bad = int(row[0]) if row else 0
        if bad:
            conn.execute(
                f"""INSERT INTO bad_rows
                    SELECT project_id, ?::TIMESTAMP, 'loader_parsing_error',
                      'iglu:com.snowplowanalytics.snowplow.badrows/loader_parsing_error/jsonschema/2-0-0',
                      json_object('schema',
                        'iglu:com.snowplowanalytics.snowplow.badrows/loader_parsing_error/jsonschema/2-0-0',
                        'data', json_object(
                          'processor', json_object('artifact', 'driftline', 'version', 'import'),
                          'failure', json_object('type', 'RowDecodingError', 'errors',
                             json_array(json_object('type', 'InvalidValue', 'message',
                               CASE WHEN problem LIKE 'expected%' THEN problem
                                    ELSE 'values that do not parse in: ' || problem END))),
                          'payload', line))
                    FROM {view}_chk WHERE problem IS NOT NULL""",
                [now],
            )
            conn.execute(
                f"""CREATE OR REPLACE TEMP TABLE {view}_split AS
                    SELECT project_id, line, p FROM {view}_chk WHERE problem IS NULL"""
            )
        return bad

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        view = self._view
        if self._events is not None:
            self._events.cleanup(conn)
        for suffix in ("_split", "_enr", "_chk"):
            with contextlib.suppress(duckdb.Error):
                conn.execute(f"DROP TABLE IF EXISTS {view}{suffix}")
        for suffix in ("_in", "_bad"):
            with contextlib.suppress(duckdb.Error):
                conn.unregister(f"{view}{suffix}")
