"""Column mapping: checked against the warehouse table, then applied to every batch.

:func:`resolve` checks a :class:`~driftline.sync.spec.SyncSpec` against the table's real
columns before anything is read (a missing column, a wrong type, a time column that is
not a time: one clear error naming it). The :class:`Mapping` it returns turns each Arrow
batch into store rows with one vectorized DuckDB query (an in-memory DuckDB used as a
compute engine, never the store):

* events — the same rules as API events (``ingest.normalize``): a non-empty event name, a
  time after 1971-01-01 and at most one hour ahead (nearer future times clamped to now),
  ``distinct_id`` by simplified ID merge, identifiers such as ``null`` or ``0`` refused,
  ``$insert_id`` of at most 36 ``[A-Za-z0-9-]`` (other values are replaced by their MD5; no
  insert-id column: a stable hash of the row). Every other column becomes a property with
  its type kept; the JSON properties column is flattened underneath (table columns win).
* profiles, groups, lookup rows — a key and the other columns as properties.

Rows that break a rule are counted as rejected with their reason; the rest are stored.
"""

from __future__ import annotations

import json
import threading
import time as _time
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from driftline.errors import InvalidInput
from driftline.ingest.normalize import invalid_id_sql
from driftline.model import INVALID_IDS, MAX_FUTURE_MS, MIN_EVENT_TIME_MS, MS_THRESHOLD, TableType
from driftline.sync.sources.base import Column, ColumnKind, TableSchema
from driftline.sync.spec import SyncSpec

_local = threading.local()

#: the ``--x-column`` options and the kinds each accepts
_RULES: dict[str, tuple[tuple[ColumnKind, ...], str]] = {
    "event_name_column": ((ColumnKind.STRING,), "text"),
    "time_column": ((ColumnKind.TIMESTAMP, ColumnKind.DATE, ColumnKind.INTEGER),
                    "a timestamp, a date or epoch seconds/milliseconds"),
    "user_id_column": ((ColumnKind.STRING, ColumnKind.INTEGER, ColumnKind.DECIMAL), "text or an integer"),
    "device_id_column": ((ColumnKind.STRING, ColumnKind.INTEGER, ColumnKind.DECIMAL), "text or an integer"),
    "insert_id_column": ((ColumnKind.STRING, ColumnKind.INTEGER, ColumnKind.DECIMAL), "text or an integer"),
    "json_properties_column": ((ColumnKind.JSON, ColumnKind.STRING), "JSON (or JSON text)"),
    "insert_time_column": ((ColumnKind.TIMESTAMP, ColumnKind.DATE), "a timestamp or a date"),
    "id_column": ((ColumnKind.STRING, ColumnKind.INTEGER, ColumnKind.DECIMAL), "text or an integer"),
    "start_time_column": ((ColumnKind.TIMESTAMP, ColumnKind.DATE), "a timestamp or a date"),
}  # fmt: skip


def _conn() -> duckdb.DuckDBPyConnection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = duckdb.connect(config={"threads": "2", "autoinstall_known_extensions": "false"})
        conn.execute("SET TimeZone = 'UTC'")
        _local.conn = conn
    return conn


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


@dataclass(frozen=True)
class Mapping:
    """A spec resolved against the table: real column names, and the transform."""

    spec: SyncSpec
    schema: TableSchema
    columns: dict[str, Column]  # spec field -> the table's column
    properties: tuple[Column, ...]  # columns that become properties

    @property
    def read_columns(self) -> tuple[str, ...]:
        """Columns to read from the warehouse, in table order."""
        wanted = {c.name for c in self.columns.values()} | {c.name for c in self.properties}
        return tuple(c.name for c in self.schema.columns if c.name in wanted)

    @property
    def insert_time(self) -> str | None:
        col = self.columns.get("insert_time_column")
        return col.name if col else None

    def describe(self) -> list[dict[str, str]]:
        """The mapping as preview shows it: warehouse column → where it lands."""
        target = {
            "event_name_column": "event name", "time_column": "time", "user_id_column": "$user_id",
            "device_id_column": "$device_id", "insert_id_column": "$insert_id",
            "json_properties_column": "properties (flattened)", "insert_time_column": "watermark",
            "start_time_column": "history start time",
            "id_column": {TableType.USER_PROFILES: "distinct_id", TableType.GROUP_PROFILES:
                          f"group id ({self.spec.group_key})"}.get(self.spec.type, "lookup id"),
        }  # fmt: skip
        out = [
            {"column": c.name, "type": c.type_name, "lands_as": target[f]}
            for f, c in self.columns.items()
        ]
        out += [
            {"column": c.name, "type": c.type_name, "lands_as": f"property {c.name}"}
            for c in self.properties
        ]
        return out

    # ------------------------------------------------------------------ transform
    def transform(
        self, batch: pa.RecordBatch, *, seq_start: int, project_id: int, now_ms: int | None = None
    ) -> pa.Table:
        """Store rows for ``batch``: the staged layout plus ``_wm`` (insert time) and ``err``
        (events also carry ``_key_hash``, a hash of the deduplication key)."""
        seq = pa.array(np.arange(seq_start, seq_start + batch.num_rows, dtype=np.int64))
        table = pa.Table.from_batches([batch]).append_column("_seq", seq)
        conn = _conn()
        conn.register("b", table)
        try:
            sql, params = self.sql("b", project_id=project_id, now_ms=now_ms)
            return conn.sql(sql, params=params).to_arrow_table()
        finally:
            conn.unregister("b")

    def sql(
        self, relation: str, *, project_id: int, now_ms: int | None = None
    ) -> tuple[str, dict[str, object] | None]:
        """The mapping as one DuckDB query over ``relation`` (the table's columns plus
        ``_seq``), and its parameters. Sources that are DuckDB themselves run it in place."""
        if self.spec.type is not TableType.EVENTS:
            return self._rows_sql(relation), None
        now_ms = int(_time.time() * 1000) if now_ms is None else now_ms
        params: dict[str, object] = {
            "pid": project_id,
            "origin": self.spec.origin,
            "now_ms": now_ms,
        }
        if "event_name_column" not in self.columns:
            params["ev"] = self.spec.event_name or ""
        return self._events_sql(relation), params

    def _props_sql(self) -> str:
        """The properties JSON text: the JSON column's object with the other columns on top
        (a JSON merge patch: a column's value replaces the key, a NULL removes it)."""
        if self._splice():
            return self._splice_sql()
        json_col = self.columns.get("json_properties_column")
        base = "'{}'"
        if json_col is not None:
            ref = f"CAST({_q(json_col.name)} AS VARCHAR)"
            base = f"CASE WHEN json_valid({ref}) AND json_type({ref}) = 'OBJECT' THEN {ref} ELSE '{{}}' END"
        return f"CAST(json_merge_patch({base}, {self._packed_sql()}) AS VARCHAR)"

    def _packed_sql(self) -> str:
        if not self.properties:
            return "'{}'"
        fields = ", ".join(f"{_q(c.name)} := {_value(c)}" for c in self.properties)
        return f"to_json(struct_pack({fields}))"

    # The merge patch parses and rewrites both texts for every row. When the row has no NULL
    # column, no nested JSON or decimal column, and the object no key named like a column, the result
    # is the object's members followed by the columns' — a splice of the two texts, with
    # the object minified (parsed once). Rows that fail the test take the merge patch.
    def _splice(self) -> bool:
        return "json_properties_column" in self.columns and all(
            c.kind not in (ColumnKind.JSON, ColumnKind.DECIMAL)  # the patch rounds decimals
            and c.name.isprintable()
            and not set(c.name) & {'"', "\\"}
            for c in self.properties
        )

    def _splice_sql(self) -> str:
        merged = "CAST(json_merge_patch(_dl_base, _dl_packed) AS VARCHAR)"
        if not self.properties:
            return "_dl_base"
        full = " AND ".join(f"{_q(c.name)} IS NOT NULL" for c in self.properties)
        clash = " OR ".join(
            f"contains(_dl_base, {_lit(json.dumps(c.name, ensure_ascii=False))})"
            for c in self.properties
        )
        return f"""CASE WHEN NOT ({full}) OR {clash} THEN {merged}
                        WHEN _dl_base = '{{}}' THEN _dl_packed
                        ELSE left(_dl_base, -1) || ',' || substr(_dl_packed, 2) END"""

    def _from(self, relation: str) -> str:
        """``relation`` with the JSON column parsed once (the splice's inputs)."""
        if not self._splice():
            return relation
        ref = _q(self.columns["json_properties_column"].name)
        parsed = f"CAST(json(TRY_CAST(CAST({ref} AS VARCHAR) AS JSON)) AS VARCHAR)"
        return (
            "(SELECT *, CASE WHEN starts_with(_dl_json, '{') THEN _dl_json ELSE '{}' END AS _dl_base"
            f" FROM (SELECT *, {parsed} AS _dl_json, CAST({self._packed_sql()} AS VARCHAR)"
            f" AS _dl_packed FROM {relation})) AS _dl_src"
        )

    def _wm_sql(self) -> str:
        col = self.columns.get("insert_time_column")
        return f"CAST({_q(col.name)} AS TIMESTAMP)" if col else "CAST(NULL AS TIMESTAMP)"

    def _text(self, field: str) -> str:
        col = self.columns.get(field)
        if col is None:
            return "CAST(NULL AS VARCHAR)"
        if col.kind in (ColumnKind.DECIMAL, ColumnKind.FLOAT):
            # 42.0 read as a float is the id 42
            return f"nullif(regexp_replace(CAST({_q(col.name)} AS VARCHAR), '\\.0+$', ''), '')"
        return f"nullif(CAST({_q(col.name)} AS VARCHAR), '')"

    def _events_sql(self, relation: str) -> str:
        cols = self.columns
        event = self._text("event_name_column") if "event_name_column" in cols else "$ev"
        tcol = cols["time_column"]
        ref = _q(tcol.name)
        if tcol.kind is ColumnKind.INTEGER:
            time_ms = f"CASE WHEN abs({ref}) >= {MS_THRESHOLD} THEN CAST({ref} AS BIGINT) ELSE CAST({ref} AS BIGINT) * 1000 END"
        else:
            time_ms = f"epoch_ms(CAST({ref} AS TIMESTAMP))"
        iid_col = cols.get("insert_id_column")
        well_formed = "regexp_full_match(iid, '[A-Za-z0-9-]{1,36}')"
        invalid_iid = invalid_id_sql("iid")
        if iid_col is not None and iid_col.kind is ColumnKind.INTEGER:
            well_formed = "length(iid) <= 36"  # an integer's text is digits and a sign
            numeric = [v for v in INVALID_IDS if v.lstrip("-").isdigit()]
            invalid_iid = (
                "(" + " OR ".join(f"iid = '{v}'" for v in numeric) + ")" if numeric else "false"
            )
        return f"""
        WITH x AS (
          SELECT _seq, {event} AS event, {time_ms} AS time_ms,
                 {self._text("user_id_column")} AS uid, {self._text("device_id_column")} AS did,
                 {self._text("insert_id_column")} AS iid, {self._props_sql()} AS properties,
                 {self._wm_sql()} AS _wm
          FROM {self._from(relation)}
        ), y AS (
          SELECT *, CASE
            WHEN event IS NULL THEN 'event name is empty'
            WHEN time_ms IS NULL THEN 'time is empty'
            WHEN time_ms < {MIN_EVENT_TIME_MS} THEN 'time is before 1971-01-01'
            WHEN time_ms > $now_ms + {MAX_FUTURE_MS} THEN 'time is more than 1 hour in the future'
            WHEN uid IS NULL AND did IS NULL THEN 'no user id and no device id'
            WHEN {invalid_id_sql("uid")} THEN 'user id ' || uid || ' is not a valid identifier'
            WHEN uid IS NULL AND {invalid_id_sql("did")} THEN 'device id ' || did || ' is not a valid identifier'
          END AS err FROM x
        ), z AS (
          SELECT *, CASE
            WHEN {well_formed} AND NOT {invalid_iid} THEN iid
            WHEN iid IS NOT NULL THEN md5(iid)
            ELSE md5(concat_ws(chr(31), event, CAST(time_ms AS VARCHAR), coalesce(uid, ''),
                               coalesce(did, ''), properties))
          END AS insert_id FROM y
        )
        SELECT *, hash(insert_id) AS _key_hash FROM (
          SELECT _seq AS seq, CAST($pid AS INTEGER) AS project_id, coalesce(event, '') AS event,
                 epoch_ms(least(coalesce(time_ms, 0), $now_ms)) AS time,
                 coalesce(uid, '$device:' || did, '') AS distinct_id, did AS device_id,
                 uid AS user_id, insert_id, properties, CAST($origin AS VARCHAR) AS origin,
                 insert_id AS origin_key, _wm, err
          FROM z
        )
        """

    def _rows_sql(self, relation: str) -> str:
        start = self.columns.get("start_time_column")
        start_sql = f"CAST({_q(start.name)} AS TIMESTAMP)" if start else "CAST(NULL AS TIMESTAMP)"
        return f"""
        SELECT _seq AS seq, coalesce(k, '') AS row_key, {self._props_sql()} AS properties,
               {start_sql} AS start_time, {self._wm_sql()} AS _wm,
               CASE WHEN k IS NULL THEN 'id is empty' END AS err
        FROM (SELECT *, {self._text("id_column")} AS k FROM {self._from(relation)})
        """


def _lit(text: str) -> str:
    return exp.Literal.string(text).sql(dialect="duckdb")


def _value(col: Column) -> str:
    ref = _q(col.name)
    if col.kind is ColumnKind.JSON:
        text = f"CAST({ref} AS VARCHAR)"
        return f"CASE WHEN json_valid({text}) THEN CAST({text} AS JSON) ELSE to_json({text}) END"
    if col.kind is ColumnKind.BINARY:
        return f"hex({ref})"
    return ref


def resolve(spec: SyncSpec, schema: TableSchema) -> Mapping:
    """Check ``spec``'s columns against ``schema``; the first problem is a clear error."""
    who = f'sync "{spec.name}"'
    columns: dict[str, Column] = {}
    for field, (kinds, wanted) in _RULES.items():
        name = getattr(spec, field)
        if not name:
            continue
        col = schema.column(name)
        if col is None:
            listing = ", ".join(schema.names[:20]) + (", ..." if len(schema.names) > 20 else "")
            raise InvalidInput(
                f'{who}: column "{name}" (--{field.replace("_", "-")}) not found in warehouse '
                f"table {schema.table} (columns: {listing})",
                field=field,
            )
        if col.kind not in kinds:
            raise InvalidInput(
                f'{who}: column "{col.name}" (--{field.replace("_", "-")}) is {col.type_name}; '
                f"it must be {wanted}",
                field=field,
            )
        columns[field] = col
    mapped = {c.name for c in columns.values()}
    properties = tuple(c for c in schema.columns if c.name not in mapped)
    return Mapping(spec, schema, columns, properties)


def split_rejected(rows: pa.Table) -> tuple[pa.Table, int, str | None]:
    """(good rows without ``err``, how many were rejected, the first reason)."""
    err = rows.column("err")
    bad = pc.is_valid(err)
    n_bad = int(pc.sum(bad).as_py() or 0)
    first = None
    if n_bad:
        first = pc.filter(err, bad)[0].as_py()
        rows = rows.filter(pc.invert(bad))
    return rows.drop_columns(["err"]), n_bad, first
