"""Steps into a warehouse: ``mp_master_event`` loaded in one transaction per step, with the
step's key in ``mp_export_log`` in the same transaction. A step run again finds its key
and loads nothing; a step killed before its commit left nothing. People and identity
mappings: a new table per snapshot behind a stable view, the previous table dropped.

Count exported events per day in any of them with
``SELECT event_date, count(*) FROM mp_master_event GROUP BY 1`` (``event_date`` is the
event's day in the project's timezone), and per step with ``mp_export_log``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from driftline.model import Project
from driftline.pipelines import snapshots
from driftline.pipelines.destinations import Warehouse
from driftline.pipelines.encode import PROPERTIES_SQL, Plan, group_where, groups
from driftline.pipelines.layout import Clock
from driftline.pipelines.schema import PropertyColumn, extract_sql, infer_kinds, widen
from driftline.pipelines.spec import DataKind
from driftline.pipelines.steps import Outcome, Step
from driftline.pipelines.warehouse_sql import EVENTS_TABLE, FIXED, KIND_TYPES, WarehouseSQL
from driftline.prefetch import prefetch

Crash = Callable[[str], None]
#: rows per batch handed to a warehouse's ``append`` (one load call each)
LOAD_BATCH_ROWS = 250_000
#: rows per batch for a warehouse that streams one load per step (``append_stream``):
#: small, so that its load starts as soon as DuckDB has rendered the first rows
STREAM_BATCH_ROWS = 32_768

SNAPSHOT_TABLES = {
    DataKind.PEOPLE: ("mp_people_data", [("distinct_id", "TEXT"), ("properties", "JSON")]),
    DataKind.IDENTITY: (
        "mp_identity_mappings_data",
        [("distinct_id", "TEXT"), ("resolved_distinct_id", "TEXT")],
    ),
}


class WarehouseExport:
    def __init__(self, warehouse: Warehouse) -> None:
        self.wh = warehouse
        self.sql = WarehouseSQL(warehouse.capabilities, warehouse.schema)

    def prepare(self) -> None:
        for statement in [*self.sql.create_schema(), *self.sql.create_tables()]:
            self.wh.execute(statement)
        for template in self.wh.capabilities.extra_ddl:
            self.wh.execute(
                template.format(
                    table=self.sql.table(EVENTS_TABLE), event_date=self.sql.ident("event_date")
                )
            )

    def columns(self) -> list[PropertyColumn]:
        seen: dict[tuple[str, str], PropertyColumn] = {}
        for prop, kind, column in self.wh.query(self.sql.select_columns()):
            seen.setdefault((prop, kind), PropertyColumn(prop, kind, column))
        return sorted(seen.values(), key=lambda c: c.column)

    def loaded(self, key: str) -> int | None:
        rows = self.wh.query(self.sql.select_step(key))
        return int(rows[0][0]) if rows else None

    def write_events(
        self,
        store: Any,
        clock: Clock,
        project: Project,
        step: Step,
        plan: Plan,
        crash: Crash,
        group_rows: int,
        on_rows: Callable[[int], None] | None = None,
    ) -> Outcome:
        self.prepare()
        done = self.loaded(step.key)
        if done is not None:  # committed by an earlier attempt, killed before the watermark
            return Outcome(rows=done, partitions=plan.partitions, detail={"already_loaded": True})
        selection = step.selection(project.id)
        existing = self.columns()
        added = widen(
            existing, infer_kinds(store, clock, selection), self.wh.capabilities.max_columns
        )
        for statement in self.sql.add_columns(added):
            self.wh.execute(statement)
        columns = existing + added
        names = [n for n, _ in FIXED] + [c.column for c in columns]
        json_columns = ["properties"] + [c.column for c in columns if c.kind == "json"]
        names = [self.sql.name(n) for n in names]
        json_columns = [self.sql.name(n) for n in json_columns]
        # DuckDB renders the next batch while the warehouse takes the previous one. A
        # streamed load gets small batches (its first rows leave sooner), more of them
        # ahead (8 × 32,768 rows in flight, against 2 × 250,000 for batch-by-batch loads).
        streamed = self._streamed() is not None
        batch_rows = STREAM_BATCH_ROWS if streamed else LOAD_BATCH_ROWS
        batches = prefetch(
            (
                pa.Table.from_batches([batch]).rename_columns(names)
                for group in groups(plan, group_rows)
                for batch in render_rows(store, clock, selection, group, columns, batch_rows)
            ),
            depth=8 if streamed else 2,
        )
        try:
            if self.wh.capabilities.staged:
                rows, nbytes = self._load_staged(
                    step, batches, columns, json_columns, crash, on_rows
                )
            else:
                with self.wh.transaction():
                    rows, nbytes = self._append_all(
                        EVENTS_TABLE, batches, json_columns, crash, on_rows
                    )
                    crash("before_marker")
                    self.wh.execute(
                        self.sql.log_step(step.key, step.kind, step.start, step.end, rows)
                    )
        finally:
            batches.close()  # a load that failed stops the renderer now
        return Outcome(
            rows=rows,
            files=0,
            bytes=nbytes,
            partitions=plan.partitions,
            detail={"columns_added": [c.column for c in added]},
        )

    def _load_staged(
        self,
        step: Step,
        batches: Any,
        columns: list[PropertyColumn],
        json_columns: list[str],
        crash: Crash,
        on_rows: Any,
    ) -> tuple[int, int]:
        """Load into a stage table outside any transaction, then move it in one."""
        stage = f"mp_stage_{hashlib.sha1(step.key.encode()).hexdigest()[:12]}"
        kinds = [(n, t) for n, t in FIXED] + [
            (c.column, "JSON" if c.kind == "json" else KIND_TYPES[c.kind]) for c in columns
        ]
        self.wh.execute(self.sql.drop_table(stage))
        self.wh.execute(self.sql.create_stage(stage, kinds))
        rows, nbytes = self._append_all(stage, batches, [], crash, on_rows)
        names = [self.sql.name(n) for n, _ in kinds]
        with self.wh.transaction():
            crash("before_marker")
            self.wh.execute(self.sql.insert_from_stage(stage, names, json_columns))
            self.wh.execute(self.sql.log_step(step.key, step.kind, step.start, step.end, rows))
        self.wh.execute(self.sql.drop_table(stage))
        return rows, nbytes

    def _append_all(
        self, table: str, batches: Any, json_columns: list[str], crash: Crash, on_rows: Any
    ) -> tuple[int, int]:
        """Append every batch to ``table``; ``between_files`` after the first. Rows, bytes.

        A warehouse with ``append_stream`` takes all the batches in one load that reads
        them as it goes (PostgreSQL: one ``COPY`` per step); the others get one
        ``append`` per batch. Either way a batch counts once the warehouse asks for the
        next one."""
        totals = [0, 0]

        def taken() -> Iterator[pa.Table]:
            for index, batch in enumerate(batches):
                yield batch
                totals[0] += batch.num_rows
                totals[1] += batch.nbytes
                if on_rows is not None:
                    on_rows(batch.num_rows)
                if index == 0:
                    crash("between_files")

        stream = self._streamed()
        if stream is not None:
            stream(table, taken(), json_columns)
        else:
            for batch in taken():
                self.wh.append(table, batch, json_columns)
        return totals[0], totals[1]

    def _streamed(self) -> Callable[[str, Iterator[pa.Table], list[str]], None] | None:
        """The warehouse's ``append_stream``, if it has one."""
        stream: Callable[[str, Iterator[pa.Table], list[str]], None] | None
        stream = getattr(self.wh, "append_stream", None)
        return stream

    def write_snapshot(
        self, store: Any, data: DataKind, project: Project, step: Step, crash: Crash
    ) -> Outcome:
        base, columns = SNAPSHOT_TABLES[data]
        rows = snapshots.render(store, data, project.id, step.end).drop_columns(["line"])
        for statement in self.sql.create_schema():
            self.wh.execute(statement)
        table = self.sql.snapshot_table(base, step.key.rsplit("-", 1)[-1])
        self.wh.execute(self.sql.drop_table(table))
        self.wh.execute(self.sql.create_snapshot(table, columns))
        json_columns = [self.sql.name(n) for n, t in columns if t == "JSON"]
        rows = rows.rename_columns([self.sql.name(n) for n in rows.column_names])
        if rows.num_rows:  # a fresh table: the view swap below is the atomic step
            self.wh.append(table, rows, json_columns)
        crash("before_marker")
        self.wh.execute(self.sql.replace_view(f"{base}_view", table))
        # the previous snapshot tables go once the view points at the new one
        for (old,) in self.wh.query(self._snapshot_tables_sql(base)):
            if str(old) != table and str(old) != f"{base}_view":
                self.wh.execute(self.sql.drop_table(str(old)))
        return Outcome(
            rows=rows.num_rows, files=0, bytes=rows.nbytes, partitions=[], detail={"table": table}
        )

    def _snapshot_tables_sql(self, base: str) -> str:
        schema = self.wh.schema or "main"
        return (
            "SELECT table_name FROM information_schema.tables "
            f"WHERE lower(table_schema) = lower({self.sql.literal(schema)}) "
            f"AND lower(table_name) LIKE {self.sql.literal(base + '_%')} "
            "AND table_type IN ('BASE TABLE', 'TABLE')"
        )


def render_rows(
    store: Any,
    clock: Clock,
    selection: Any,
    units: list[Any],
    columns: list[PropertyColumn],
    batch_rows: int = LOAD_BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """One group's rows with the fixed columns and every property column, streamed."""
    where, params = group_where(clock, selection, units)
    values, exprs = extract_sql(columns)
    extra = "".join(f", {e} AS c{i}" for i, e in enumerate(exprs))
    sql = f"""SELECT event_name, time, distinct_id, device_id, user_id, insert_id, properties,
                     event_date, mp_processing_time {extra}
              FROM (SELECT event AS event_name, time, distinct_id, device_id, user_id, insert_id,
                           {PROPERTIES_SQL} AS properties, {clock.event_day_sql()} AS event_date,
                           ingested_at AS mp_processing_time, {values} AS _v
                    FROM events WHERE {where})"""
    yield from store.stream(sql, params, batch_rows=batch_rows)
