"""Warehouse SQL, built with sqlglot in each destination's dialect (identifiers quoted,
values as literals). The same builders feed the golden files of dialects that cannot run
here (BigQuery, Redshift)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlglot import exp

from driftline.pipelines.destinations import Capabilities
from driftline.pipelines.schema import PropertyColumn

EVENTS_TABLE = "mp_master_event"
LOG_TABLE = "mp_export_log"
COLUMNS_TABLE = "mp_property_columns"

KIND_TYPES = {"string": "TEXT", "number": "DOUBLE", "boolean": "BOOLEAN"}

FIXED = (
    ("event_name", "TEXT"),
    ("time", "TIMESTAMP"),
    ("distinct_id", "TEXT"),
    ("device_id", "TEXT"),
    ("user_id", "TEXT"),
    ("insert_id", "TEXT"),
    ("properties", "JSON"),
    ("event_date", "DATE"),
    ("mp_processing_time", "TIMESTAMP"),
)


class WarehouseSQL:
    def __init__(self, caps: Capabilities, schema: str | None = None) -> None:
        self.caps = caps
        self.dialect = caps.dialect or "postgres"
        self.schema = schema

    # -------------------------------------------------------------- names and values
    def name(self, name: str) -> str:
        return name.upper() if self.caps.uppercase else name

    def ident(self, name: str) -> str:
        return exp.to_identifier(self.name(name), quoted=True).sql(self.dialect)

    def table(self, name: str) -> str:
        if self.schema:
            return f"{self.ident(self.schema)}.{self.ident(name)}"
        return self.ident(name)

    def literal(self, value: object) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return exp.Literal.number(value).sql(self.dialect)
        if isinstance(value, dt.datetime):
            return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP").sql(
                self.dialect
            )
        text = str(value)
        if self.caps.spell_dollar and "$" in text:
            pieces = [exp.Literal.string(p).sql(self.dialect) for p in text.split("$")]
            return "(" + " || CHR(36) || ".join(pieces) + ")"
        return exp.Literal.string(text).sql(self.dialect)

    def type(self, name: str) -> str:
        if name == "JSON":
            return self.caps.json_type
        return exp.DataType.build(name).sql(self.dialect)

    def kind_type(self, kind: str) -> str:
        return self.type("JSON") if kind == "json" else self.type(KIND_TYPES[kind])

    # -------------------------------------------------------------- DDL
    def create_schema(self) -> list[str]:
        return [f"CREATE SCHEMA IF NOT EXISTS {self.ident(self.schema)}"] if self.schema else []

    def create_tables(self) -> list[str]:
        cols = ", ".join(f"{self.ident(n)} {self.type(t)}" for n, t in FIXED)
        events = f"CREATE TABLE IF NOT EXISTS {self.table(EVENTS_TABLE)} ({cols})"
        if self.caps.partitioning:
            events += " " + self.caps.partitioning.format(event_date=self.ident("event_date"))
        log = (
            f"CREATE TABLE IF NOT EXISTS {self.table(LOG_TABLE)} ("
            f"{self.ident('step')} {self.type('TEXT')}, {self.ident('kind')} {self.type('TEXT')}, "
            f"{self.ident('window_start')} {self.type('TIMESTAMP')}, "
            f"{self.ident('window_end')} {self.type('TIMESTAMP')}, "
            f"{self.ident('rows_exported')} {self.type('BIGINT')}, "
            f"{self.ident('exported_at')} {self.type('TIMESTAMP')})"
        )
        columns = (
            f"CREATE TABLE IF NOT EXISTS {self.table(COLUMNS_TABLE)} ("
            f"{self.ident('property')} {self.type('TEXT')}, {self.ident('kind')} {self.type('TEXT')}, "
            f"{self.ident('column_name')} {self.type('TEXT')})"
        )
        return [events, log, columns]

    def add_columns(self, added: Sequence[PropertyColumn]) -> list[str]:
        out = []
        for col in added:
            if_not_exists = "IF NOT EXISTS " if self.caps.add_column_if_not_exists else ""
            out.append(
                f"ALTER TABLE {self.table(EVENTS_TABLE)} ADD COLUMN {if_not_exists}"
                f"{self.ident(col.column)} {self.kind_type(col.kind)}"
            )
            out.append(
                f"INSERT INTO {self.table(COLUMNS_TABLE)} VALUES "
                f"({self.literal(col.property)}, {self.literal(col.kind)}, {self.literal(col.column)})"
            )
        return out

    # -------------------------------------------------------------- steps
    def select_columns(self) -> str:
        return (
            f"SELECT {self.ident('property')}, {self.ident('kind')}, {self.ident('column_name')} "
            f"FROM {self.table(COLUMNS_TABLE)}"
        )

    def select_step(self, key: str) -> str:
        return (
            f"SELECT {self.ident('rows_exported')} FROM {self.table(LOG_TABLE)} "
            f"WHERE {self.ident('step')} = {self.literal(key)}"
        )

    def log_step(
        self, key: str, kind: str, start: dt.datetime | None, end: dt.datetime | None, rows: int
    ) -> str:
        values = ", ".join(self.literal(v) for v in (key, kind, start, end, rows))
        return f"INSERT INTO {self.table(LOG_TABLE)} VALUES ({values}, CURRENT_TIMESTAMP)"

    def insert_from_stage(
        self, stage: str, columns: Sequence[str], json_columns: Sequence[str]
    ) -> str:
        """Move a loaded stage into ``mp_master_event`` (JSON text parsed where needed)."""
        target = ", ".join(self.ident(c) for c in columns)
        exprs = []
        for c in columns:
            if c in json_columns and self.caps.json_parse:
                exprs.append(f"{self.caps.json_parse}({self.ident(c)})")
            else:
                exprs.append(self.ident(c))
        return (
            f"INSERT INTO {self.table(EVENTS_TABLE)} ({target}) "
            f"SELECT {', '.join(exprs)} FROM {self.table(stage)}"
        )

    # -------------------------------------------------------------- snapshots
    def snapshot_table(self, base: str, stamp: str) -> str:
        return f"{base}_{stamp.lower().replace('.', '_')}"

    def create_snapshot(self, table: str, columns: Sequence[tuple[str, str]]) -> str:
        cols = ", ".join(f"{self.ident(n)} {self.type(t)}" for n, t in columns)
        return f"CREATE TABLE {self.table(table)} ({cols})"

    def replace_view(self, view: str, table: str) -> str:
        return f"CREATE OR REPLACE VIEW {self.table(view)} AS SELECT * FROM {self.table(table)}"

    def create_stage(self, stage: str, columns: Sequence[tuple[str, str]]) -> str:
        """A stage table with JSON columns as text (parsed on the way into the target)."""
        cols = ", ".join(
            f"{self.ident(n)} {self.type('TEXT' if t == 'JSON' else t)}" for n, t in columns
        )
        return f"CREATE TABLE {self.table(stage)} ({cols})"

    def drop_table(self, table: str) -> str:
        return f"DROP TABLE IF EXISTS {self.table(table)}"
