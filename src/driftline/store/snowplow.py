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
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from driftline.model import WriteResult
from driftline.store.ops import AppendEvents, as_json

LINES_SCHEMA = pa.schema([pa.field("project_id", pa.int32()), pa.field("line", pa.string())])
BAD_ROWS_SCHEMA = pa.schema(
    [
        pa.field("project_id", pa.int32()),
        pa.field("kind", pa.string()),
        pa.field("schema", pa.string()),
        pa.field("payload", pa.string()),
    ]
)
_NO_LINES = LINES_SCHEMA.empty_table()  # shared: Arrow tables are immutable
_NO_BAD_ROWS = BAD_ROWS_SCHEMA.empty_table()
_names = itertools.count()
_EMPTY = "''"
_PARSING = "iglu:com.snowplowanalytics.snowplow.badrows/loader_parsing_error/jsonschema/2-0-0"


def _bad_json(message: str, line: str) -> str:
    """SQL building a loader_parsing_error bad row document."""
    return f"""json_object('schema', '{_PARSING}', 'data', json_object(
        'processor', json_object('artifact', 'driftline', 'version', 'import'),
        'failure', json_object('type', 'RowDecodingError', 'errors',
            json_array(json_object('type', 'InvalidValue', 'message', {message}))),
        'payload', {line}))"""


def _concat(tables: list[pa.Table]) -> pa.Table | None:
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return None
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _empty_split(width: int) -> pa.Table:
    return pa.table(
        {
            "project_id": pa.array([], pa.int32()),
            **{f"c{i}": pa.array([], pa.string()) for i in range(width)},
        }
    )


def tsv_options(width: int, on_invalid: Callable[[Any], str], *, block_size: int) -> dict[str, Any]:
    """pyarrow CSV options for enriched TSV: ``width`` text columns ``c0..`` split at tabs
    only (no quoting, no escapes, one line a row), empty fields NULL, each line with another
    field count handed to ``on_invalid``."""
    names = [f"c{i}" for i in range(width)]
    return {
        "read_options": pacsv.ReadOptions(column_names=names, block_size=block_size),
        "parse_options": pacsv.ParseOptions(
            delimiter="\t",
            quote_char=False,
            escape_char=False,
            newlines_in_values=False,
            invalid_row_handler=on_invalid,
        ),
        "convert_options": pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=False,
        ),
    }


def split_lines(lines: pa.Table, width: int) -> tuple[pa.Table, list[tuple[int, str, str]]]:
    """Lines (``project_id``, ``line``) → ``project_id`` + ``width`` text columns ``c0..``
    (empty fields NULL), with pyarrow's CSV parser; lines with another field count are
    returned apart as ``(project_id, problem, line)``."""
    projects = lines.column("project_id").combine_chunks()
    text = lines.column("line").combine_chunks()
    if projects.null_count == 0 and pc.min_max(projects)["min"] == pc.min_max(projects)["max"]:
        groups = [(projects[0].as_py(), text)]
    else:
        groups = []
        for pid in pc.unique(projects).to_pylist():
            groups.append((pid, text.filter(pc.equal(projects, pid))))
    parts, broken = [], []
    for pid, chunk in groups:
        bad: list[str] = []

        def on_invalid(row: Any, bad: list[str] = bad) -> str:
            bad.append(row.text)
            return "skip"

        values = chunk.cast(pa.large_string())
        listed = pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)
        joined = pc.binary_join(listed, pa.scalar("\n", pa.large_string()))[0].as_buffer()
        table = pacsv.read_csv(
            pa.BufferReader(joined), **tsv_options(width, on_invalid, block_size=1 << 26)
        )
        table = table.add_column(0, "project_id", pa.array([pid] * table.num_rows, pa.int32()))
        parts.append(table)
        for line in bad:
            fields = line.count("\t") + 1
            broken.append((pid, f"expected {width} tab-separated fields, got {fields}", line))
    return pa.concat_tables(parts), broken


_ARROW_TYPES = {
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "TIMESTAMP": pa.timestamp("us"),
    "BOOLEAN": pa.bool_(),
}
#: the text each fast cast accepts: a subset of what DuckDB's TRY_CAST accepts, read the
#: same way; anything else goes through the checked SQL path, which words the problem
_ARROW_TEXT = {
    "INTEGER": r"^-?[0-9]{1,10}$",
    "DOUBLE": r"^-?[0-9]{1,15}(\.[0-9]{1,15})?$",
    "TIMESTAMP": r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?$",
    "BOOLEAN": r"^[01]$",
}


def _arrow_typed(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    table: pa.Table,
    columns: list[tuple[str, str]],
) -> pa.Table | None:
    """``table``'s text columns cast to the column types with Arrow (vectorized, no copy of
    the text columns), or None when some value would not cast: then the checked SQL path
    runs. JSON columns are checked with DuckDB's ``json_valid`` in one aggregate."""
    arrays: list[pa.ChunkedArray] = [table.column("project_id")]
    json_checks = []
    for i, (_, kind) in enumerate(columns):
        values = table.column(f"c{i}")
        if kind == "VARCHAR":
            arrays.append(values)
            continue
        if kind == "JSON":
            json_checks.append(f"count(*) FILTER (WHERE NOT json_valid(c{i}))")
            arrays.append(values)
            continue
        target = _ARROW_TYPES.get(kind)
        if target is None:
            return None
        if values.null_count < len(values):
            ok = pc.all(pc.match_substring_regex(values, _ARROW_TEXT[kind])).as_py()
            if ok is False:
                return None
        try:
            arrays.append(values.cast(target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    if json_checks:
        row = conn.execute(f"SELECT {', '.join(json_checks)} FROM {name}").fetchall()[0]
        if row is None or any(row):
            return None
    return pa.Table.from_arrays(arrays, names=["project_id", *(n for n, _ in columns)])


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
    #: under concurrent live load, commits at least this far apart (see the writer). A
    #: collector commit writes two wide tables, with ~11 ms of fixed cost per commit
    #: (statements over 132 columns, identities, the WAL sync): on one thread, measured 87 µs
    #: of CPU per event in commits of 160 events, 33 in commits of 640, 22 in 2,000. The
    #: spacing is also latency: under wrk with two workers, 50 ms gave 13,700 events/s from
    #: 256 connections (100 ms: 12,900) and 16,300 from 1,000 (100 ms: 16,000).
    commit_interval = 0.05

    def __init__(
        self,
        lines: pa.Table | None,
        events_sql: str,
        *,
        bad_rows: pa.Table | None = None,
        imports: list[tuple[int, str, str, int, int]] | None = None,
        checkpoints: list[tuple[int, str, str, str]] | None = None,
        trusted: bool = False,
        prepared: list[Any] | None = None,
        build: Callable[[list[Any]], tuple[pa.Table, pa.Table]] | None = None,
        split: pa.Table | None = None,
        broken: list[tuple[int, str, str]] | None = None,
        built: list[tuple[pa.Table, pa.Table]] | None = None,
        sources: int = 0,
    ) -> None:
        #: collector requests whose rows these are (live traffic: the writer may group them)
        self.sources = sources
        self.lines = lines if lines is not None else _NO_LINES
        self.bad_rows = bad_rows if bad_rows is not None else _NO_BAD_ROWS
        self.events_sql = events_sql
        self.imports = imports or []
        self.checkpoints = checkpoints or []
        self.trusted = trusted
        self.prepared = prepared or []
        self.build = build
        self.split = split  # project_id + c0..c130 text columns, already split (imports)
        self.broken = broken or []
        #: (snowplow_events rows, events rows) built already (collector worker processes)
        self.built = built or []
        self.rows = (
            self.lines.num_rows
            + self.bad_rows.num_rows
            + len(self.prepared)
            + sum(enriched.num_rows for enriched, _ in self.built)
            + (split.num_rows if split is not None else 0)
            + len(self.broken)
        )
        self._view = f"_sp_{next(_names)}"
        self._events: AppendEvents | None = None
        self._prepared_events: AppendEvents | None = None
        self._registered_enr = False
        #: set when apply stored only collector rows (``prepared``): no ``_enr`` temp table
        #: to drop afterwards (a catalog change per commit, many commits a second)
        self._prepared_only = False

    @classmethod
    def merge(cls, ops: list[AppendEnriched]) -> AppendEnriched:
        if len(ops) == 1:
            return ops[0]
        return cls(
            _concat([op.lines for op in ops]),
            ops[0].events_sql,
            bad_rows=_concat([op.bad_rows for op in ops]),
            imports=[i for op in ops for i in op.imports],
            checkpoints=[c for op in ops for c in op.checkpoints],
            trusted=all(op.trusted for op in ops),
            prepared=[p for op in ops for p in op.prepared],
            build=next((op.build for op in ops if op.build is not None), None),
            split=_concat([op.split for op in ops if op.split is not None]),
            broken=[b for op in ops for b in op.broken],
            built=[b for op in ops for b in op.built],
            sources=sum(op.sources for op in ops),
        )

    def apply(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> WriteResult:
        view = self._view
        stored = invalid = 0
        events: Any = None
        built = list(self.built)
        if self.prepared and self.build is not None:
            built.append(self.build(self.prepared))
        if built:
            enriched = _concat([b[0] for b in built]) or built[0][0]
            event_rows = _concat([b[1] for b in built]) or built[0][1]
            # read by name below (a replacement scan: nothing to register and drop). The JSON
            # columns' text comes from the enrichment's own encoder, so it goes in as JSON
            # without DuckDB parsing it again (~6% of a live commit); file rows are checked
            json_columns = (name for name, kind in _columns(conn) if kind == "JSON")
            _sp_built = as_json(enriched, *json_columns)
            conn.execute("INSERT INTO snowplow_events SELECT *, ?::TIMESTAMP FROM _sp_built", [now])
            stored += enriched.num_rows
            self._prepared_events = AppendEvents(event_rows, json_encoded=True)
            events = self._prepared_events.apply(conn, now)
        if self.lines.num_rows or self.split is not None or self.broken:
            columns = _columns(conn)
            parts, broken = [], list(self.broken)
            if self.lines.num_rows:
                table, more = split_lines(self.lines, len(columns))
                parts.append(table)
                broken += more
            if self.split is not None:
                parts.append(self.split)
            table = _concat(parts) or _empty_split(len(columns))
            conn.register(f"{view}_in", table)
            names = [f"c{i}" for i in range(len(columns))]
            typed = _arrow_typed(conn, f"{view}_in", table, columns)
            if typed is not None:
                # every value casts: use the Arrow columns directly, no checked copy
                conn.register(f"{view}_enr", typed)
                self._registered_enr = True
                return self._store_enriched(conn, now, columns, broken, stored, events)
            casts = ", ".join(
                f"{c} AS {n}" if t == "VARCHAR" else f"TRY_CAST({c} AS {t}) AS {n}"
                for c, (n, t) in zip(names, columns, strict=True)
            )
            extra = ""
            if not self.trusted:
                failing = ", ".join(
                    f"CASE WHEN {c} IS NOT NULL AND TRY_CAST({c} AS {t}) IS NULL THEN '{n}' END"
                    for c, (n, t) in zip(names, columns, strict=True)
                    if t != "VARCHAR"
                )
                extra = (
                    f", nullif(concat_ws(', ', {failing}), '') AS _problem, "
                    f"CASE WHEN _problem IS NOT NULL THEN concat_ws(chr(9), "
                    f"{', '.join(f'coalesce({c}, {_EMPTY})' for c in names)}) END AS _line"
                )
            conn.execute(
                f"CREATE OR REPLACE TEMP TABLE {view}_enr AS SELECT project_id, {casts}{extra} "
                f"FROM {view}_in"
            )
            if not self.trusted:
                invalid = self._move_invalid(conn, now)
            return self._store_enriched(conn, now, columns, broken, stored, events, invalid)
        self._prepared_only = True
        return self._finish(conn, now, stored, events, invalid)

    def _store_enriched(
        self,
        conn: duckdb.DuckDBPyConnection,
        now: dt.datetime,
        columns: list[tuple[str, str]],
        broken: list[tuple[int, str, str]],
        stored: int,
        events: Any,
        invalid: int = 0,
    ) -> WriteResult:
        """Store the typed rows of ``{view}_enr``: replace earlier copies, append them and
        their driftline events, and the lines that did not split as bad rows."""
        view = self._view
        if broken:
            invalid += len(broken)
            self._store_broken(conn, broken, now)
        bounds = conn.execute(
            f"SELECT min(collector_tstamp), max(collector_tstamp), count(*) FROM {view}_enr"
        ).fetchall()[0]
        stored += int(bounds[2])
        if bounds[2]:
            conn.execute(
                f"""DELETE FROM snowplow_events s USING {view}_enr n
                    WHERE s.collector_tstamp BETWEEN ?::TIMESTAMP AND ?::TIMESTAMP
                      AND s.project_id = n.project_id AND s.event_id = n.event_id
                      AND s.collector_tstamp = n.collector_tstamp""",
                [bounds[0], bounds[1]],
            )
            cols = ", ".join(n for n, _ in columns)
            conn.execute(
                f"""INSERT INTO snowplow_events (project_id, {cols}, ingested_at)
                    SELECT project_id, {cols}, ?::TIMESTAMP FROM {view}_enr""",
                [now],
            )
            sql = self.events_sql.replace("{enriched}", f"{view}_enr")
            table = conn.sql(sql).to_arrow_table()
            self._events = AppendEvents(table)
            events = self._events.apply(conn, now)
        return self._finish(conn, now, stored, events, invalid)

    def _finish(
        self,
        conn: duckdb.DuckDBPyConnection,
        now: dt.datetime,
        stored: int,
        events: Any,
        invalid: int,
    ) -> WriteResult:
        view = self._view
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

    def _move_invalid(self, conn: duckdb.DuckDBPyConnection, now: dt.datetime) -> int:
        """Move rows with values that do not parse to ``bad_rows``; return how many."""
        view = self._view
        [(count,)] = conn.execute(
            f"SELECT count(*) FROM {view}_enr WHERE _problem IS NOT NULL"
        ).fetchall()
        bad = int(count)
        if bad:
            conn.execute(
                f"""INSERT INTO bad_rows
                    SELECT project_id, ?::TIMESTAMP, 'loader_parsing_error', '{_PARSING}',
                      {_bad_json("'values that do not parse in: ' || _problem", "_line")}
                    FROM {view}_enr WHERE _problem IS NOT NULL""",
                [now],
            )
            conn.execute(f"DELETE FROM {view}_enr WHERE _problem IS NOT NULL")
        return bad

    def _store_broken(
        self, conn: duckdb.DuckDBPyConnection, broken: list[tuple[int, str, str]], now: dt.datetime
    ) -> None:
        view = self._view
        conn.register(
            f"{view}_broken",
            pa.table(
                {
                    "project_id": pa.array([b[0] for b in broken], pa.int32()),
                    "problem": [b[1] for b in broken],
                    "line": [b[2] for b in broken],
                }
            ),
        )
        conn.execute(
            f"""INSERT INTO bad_rows
                SELECT project_id, ?::TIMESTAMP, 'loader_parsing_error', '{_PARSING}',
                  {_bad_json("problem", "line")}
                FROM {view}_broken""",
            [now],
        )
        conn.unregister(f"{view}_broken")

    def committed(self) -> None:
        for op in (self._events, self._prepared_events):
            if op is not None:
                op.committed()

    def cleanup(self, conn: duckdb.DuckDBPyConnection) -> None:
        view = self._view
        for op in (self._events, self._prepared_events):
            if op is not None:
                op.cleanup(conn)
        if self._registered_enr:
            with contextlib.suppress(duckdb.Error):
                conn.unregister(f"{view}_enr")
        elif not self._prepared_only:
            with contextlib.suppress(duckdb.Error):
                conn.execute(f"DROP TABLE IF EXISTS {view}_enr")
        for suffix in ("_in", "_bad"):
            with contextlib.suppress(duckdb.Error):
                conn.unregister(f"{view}{suffix}")
