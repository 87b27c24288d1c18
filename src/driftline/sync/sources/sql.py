"""What SQL warehouses share: SELECTs built with sqlglot, catalog reads, the contract.

:class:`SqlSource` implements :class:`~driftline.sync.sources.base.Source` on top of a tiny
per-warehouse client (:class:`SqlClient`: run a query for a few rows, run a query as Arrow
batches). Every statement is built as a sqlglot expression and rendered in the source's
dialect; identifiers from users are quoted, values are literals rendered by sqlglot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import pyarrow as pa
from sqlglot import exp

from driftline.errors import NotFound
from driftline.sync.sources.base import (
    Capabilities,
    Column,
    ReadRequest,
    TableRef,
    TableSchema,
    kind_of,
)


class SqlClient(Protocol):
    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql``; return its (few) rows."""

    def batches(self, sql: str, columns: list[Column], batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Run ``sql`` and stream its result as Arrow record batches."""

    def close(self) -> None: ...


def literal(value: Any) -> exp.Expression:
    """A SQL literal for a Python value (rendered and escaped by sqlglot)."""
    if isinstance(value, dt.datetime):
        text = value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return exp.cast(exp.Literal.string(text), exp.DataType.build("timestamp"))
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("date"))
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def column(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


class SqlSource:
    """A warehouse reached through SQL. Subclasses set ``capabilities`` and may override
    ``column_expr`` (how a column is selected) and the catalog queries."""

    capabilities: Capabilities
    #: information_schema catalog name, when the warehouse needs one (BigQuery, Databricks)
    default_schema: str | None = None

    def __init__(self, client: SqlClient, *, description: str) -> None:
        self.client = client
        self.description = description

    # ------------------------------------------------------------------ SQL
    @property
    def dialect(self) -> str:
        return self.capabilities.dialect

    def render(self, expression: exp.Expression) -> str:
        return expression.sql(dialect=self.dialect)

    def column_expr(self, col: Column) -> exp.Expression:
        """The expression that selects ``col`` (sources cast awkward types here)."""
        return column(col.name)

    def select_sql(self, request: ReadRequest, schema: TableSchema | None = None) -> str:
        by_name = {c.name: c for c in schema.columns} if schema else {}
        projections: list[exp.Expression] = []
        for name in request.columns:
            col = by_name.get(name)
            expr = self.column_expr(col) if col else column(name)
            if not isinstance(expr, exp.Column):
                expr = exp.alias_(expr, name, quoted=True)
            projections.append(expr)
        query = exp.select(*projections).from_(self._table(request.table))
        query = self._filter(query, request)
        if request.order_by:
            query = query.order_by(*(column(c) for c in request.order_by))
        if request.limit is not None:
            query = query.limit(request.limit)
        return self.render(query)

    def count_sql(self, request: ReadRequest) -> str:
        query = exp.select(exp.Count(this=exp.Star())).from_(self._table(request.table))
        return self.render(self._filter(query, request))

    def _filter(self, query: exp.Select, request: ReadRequest) -> exp.Select:
        if request.since_column and request.since is not None:
            bound = literal(request.since)
            if request.since_type:
                try:  # the column's own type: no cross-type comparison (BigQuery refuses them)
                    target = exp.DataType.build(request.since_type, dialect=self.dialect)
                    bound = exp.cast(bound.this if isinstance(bound, exp.Cast) else bound, target)
                except Exception:  # a type name sqlglot cannot parse: keep the plain literal
                    pass
            query = query.where(exp.GTE(this=column(request.since_column), expression=bound))
        return query

    def _table(self, table: TableRef) -> exp.Table:
        if table.schema is None and self.default_schema:
            table = TableRef(table.name, self.default_schema)
        return table.to_sql()

    # ------------------------------------------------------------------ catalog
    def tables_sql(self) -> str:
        return self.render(
            exp.select("table_schema", "table_name")
            .from_(exp.table_("tables", db="information_schema"))
            .where(
                exp.not_(
                    exp.column("table_schema").isin(
                        *(exp.Literal.string(s) for s in self.system_schemas)
                    )
                )
            )
            .order_by("table_schema", "table_name")
        )

    system_schemas: tuple[str, ...] = ("information_schema", "pg_catalog")

    def columns_sql(self, table: TableRef) -> str:
        condition: exp.Expression = exp.column("table_name").eq(exp.Literal.string(table.name))
        schema = table.schema or self.default_schema
        if schema:
            condition = exp.and_(
                condition, exp.column("table_schema").eq(exp.Literal.string(schema.split(".")[-1]))
            )
        else:
            condition = exp.and_(condition, self.current_schema_condition())
        return self.render(
            exp.select("column_name", "data_type", "is_nullable")
            .from_(exp.table_("columns", db="information_schema"))
            .where(condition)
            .order_by("ordinal_position")
        )

    def current_schema_condition(self) -> exp.Expression:
        return exp.column("table_schema").eq(exp.func("current_schema"))

    # ------------------------------------------------------------------ the contract
    def check(self) -> list[str]:
        tables = self.list_tables()
        readable = "table or view" if len(tables) == 1 else "tables and views"
        return [f"reached {self.description}", f"{len(tables):,} {readable} readable"]

    def list_tables(self) -> list[TableRef]:
        return [
            TableRef(str(name), str(schema)) for schema, name in self.client.rows(self.tables_sql())
        ]

    def describe(self, table: TableRef) -> TableSchema:
        rows = self.client.rows(self.columns_sql(table))
        if not rows:
            raise NotFound(
                f"table {table} not found in {self.description} (or it has no columns the "
                "credentials can read); `driftline warehouse test` lists what is readable"
            )
        columns = tuple(
            Column(str(name), str(type_name), kind_of(str(type_name), self.dialect), _yes(nullable))
            for name, type_name, nullable in rows
        )
        return TableSchema(table, columns)

    def count(self, request: ReadRequest) -> int:
        rows = self.client.rows(self.count_sql(request))
        return int(rows[0][0]) if rows else 0

    def read(
        self, request: ReadRequest, schema: TableSchema | None = None
    ) -> Iterator[pa.RecordBatch]:
        schema = schema or self.describe(request.table)
        wanted = [c for c in schema.columns if c.name in set(request.columns)]
        order = {n: i for i, n in enumerate(request.columns)}
        wanted.sort(key=lambda c: order[c.name])
        sql = self.select_sql(request, schema)
        yield from self.client.batches(sql, wanted, self.capabilities.batch_rows)

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ Mirror's hook
    def row_checksum(self, table: TableSchema) -> exp.Expression:
        """The per-row checksum expression (sources with a cheaper native hash override it)."""
        from driftline.sync.sources.checksums import row_checksum

        return row_checksum(table)

    def checksum_sql(self, table: TableSchema, key: Sequence[str]) -> str:
        """Per-row checksums computed in the warehouse (see :mod:`.checksums`): only
        ``(key..., _dl_checksum)`` travels, so Mirror can diff snapshots cheaply."""
        by_name = {c.name: c for c in table.columns}
        keys: list[exp.Expression] = []
        for k in key:  # keys as the read path selects them, so they compare equal
            expr = self.column_expr(by_name[k])
            keys.append(expr if isinstance(expr, exp.Column) else exp.alias_(expr, k, quoted=True))
        select = exp.select(*keys, exp.alias_(self.row_checksum(table), "_dl_checksum"))
        return self.render(select.from_(self._table(table.table)))

    def read_checksums(self, table: TableSchema, key: Sequence[str]) -> Iterator[pa.RecordBatch]:
        from driftline.sync.sources.base import ColumnKind

        by_name = {c.name: c for c in table.columns}
        cols = [by_name[k] for k in key] + [Column("_dl_checksum", "text", ColumnKind.STRING)]
        yield from self.client.batches(
            self.checksum_sql(table, key), cols, self.capabilities.batch_rows
        )

    def read_mirror(
        self, table: TableSchema, columns: Sequence[str], by: str | None = None,
        values: Sequence[str | int] = (),
    ) -> Iterator[pa.RecordBatch]:  # fmt: skip
        """Mirror's fetch: ``columns`` plus ``_dl_checksum``, all rows or those whose key
        column / checksum (``by``) is in ``values`` (see :func:`.checksums.rows_sql`)."""
        from driftline.sync.sources.base import ColumnKind
        from driftline.sync.sources.checksums import CHECKSUM, rows_sql

        by_name = {c.name: c for c in table.columns}
        cols = [by_name[c] for c in columns] + [Column(CHECKSUM, "text", ColumnKind.STRING)]
        sql = rows_sql(self, table, columns, by, values)
        yield from self.client.batches(sql, cols, self.capabilities.batch_rows)


def _yes(value: Any) -> bool:
    return str(value).upper() in ("YES", "Y", "TRUE", "1")


def batch_from_rows(rows: list[tuple[Any, ...]], columns: list[Column]) -> pa.RecordBatch:
    """Arrow from a DB-API ``fetchmany`` page, built column by column (for drivers with no
    Arrow path of their own)."""
    arrays = []
    transposed = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    for col, values in zip(columns, transposed, strict=True):
        arrays.append(_array(values, col))
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])


def _array(values: Any, col: Column) -> pa.Array:
    from driftline.sync.sources.base import ColumnKind

    target = {
        ColumnKind.INTEGER: pa.int64(),
        ColumnKind.FLOAT: pa.float64(),
        ColumnKind.BOOLEAN: pa.bool_(),
        ColumnKind.TIMESTAMP: pa.timestamp("us"),
        ColumnKind.DATE: pa.date32(),
    }.get(col.kind)
    if col.kind is ColumnKind.JSON:
        import json

        return pa.array(
            [v if v is None or isinstance(v, str) else json.dumps(v, default=str) for v in values],
            pa.string(),
        )
    try:
        arr = pa.array(values, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array([None if v is None else str(v) for v in values], pa.string())
    if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
        arr = arr.cast(pa.timestamp(arr.type.unit))
    if target is not None and arr.type != target:
        try:
            return arr.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    if col.kind in (ColumnKind.DECIMAL,) and pa.types.is_decimal(arr.type):
        return arr.cast(pa.float64())
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        return arr
    if pa.types.is_null(arr.type):
        return arr.cast(target or pa.string())
    if not (
        pa.types.is_string(arr.type) or pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)
        or pa.types.is_boolean(arr.type) or pa.types.is_temporal(arr.type)
    ):  # fmt: skip
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    return arr
