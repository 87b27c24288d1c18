"""The contract every warehouse source fulfils, and the shapes it speaks in.

A source is built from a warehouse URL by its package's ``create(url)`` and answers five
questions: can I reach you (``check``), what tables do you have (``list_tables``), what
columns does this one have (``describe``), how many rows would a read return (``count``),
and give me those rows as Arrow record batches (``read``), with the filters pushed down
into the warehouse's own SQL.

What differs between sources is data, not branches in the engine: :class:`Capabilities`
says which sqlglot dialect the warehouse speaks, which sync modes it supports, and how it
reads Arrow fast. Optional abilities are separate protocols the engine checks for with
``isinstance``: :class:`WarehouseChecksums` (row checksums computed in the warehouse, for
Mirror) is one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

import pyarrow as pa
from sqlglot import exp

from driftline.model import SyncMode

ALL_MODES: frozenset[SyncMode] = frozenset(SyncMode)
BATCH_MODES: frozenset[SyncMode] = frozenset({SyncMode.APPEND, SyncMode.FULL, SyncMode.ONE_TIME})


class ColumnKind(StrEnum):
    """What a warehouse column holds, independent of the warehouse's type names."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DATE = "date"
    JSON = "json"
    BINARY = "binary"
    OTHER = "other"

    @property
    def is_time(self) -> bool:
        return self in (ColumnKind.TIMESTAMP, ColumnKind.DATE)

    @property
    def is_id(self) -> bool:
        """Can identify a user, device, group or row (Mixpanel: string or integer)."""
        return self in (ColumnKind.STRING, ColumnKind.INTEGER, ColumnKind.DECIMAL)


_KINDS: dict[exp.DataType.Type, ColumnKind] = {}
for _kind, _types in {
    ColumnKind.STRING: ("CHAR", "NCHAR", "VARCHAR", "NVARCHAR", "TEXT", "MEDIUMTEXT",
                        "LONGTEXT", "TINYTEXT", "NAME", "UUID", "ENUM", "BPCHAR", "CITEXT"),
    ColumnKind.INTEGER: ("TINYINT", "UTINYINT", "SMALLINT", "USMALLINT", "INT", "UINT",
                         "MEDIUMINT", "UMEDIUMINT", "BIGINT", "UBIGINT", "INT128", "UINT128",
                         "SERIAL", "BIGSERIAL", "SMALLSERIAL"),
    ColumnKind.FLOAT: ("FLOAT", "DOUBLE", "REAL"),
    ColumnKind.DECIMAL: ("DECIMAL", "MONEY", "BIGDECIMAL", "DECIMAL32", "DECIMAL64", "DECIMAL128"),
    ColumnKind.BOOLEAN: ("BOOLEAN", "BIT"),
    ColumnKind.TIMESTAMP: ("TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMPLTZ", "TIMESTAMPNTZ", "DATETIME",
                           "DATETIME64", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME2",
                           "SMALLDATETIME"),
    ColumnKind.DATE: ("DATE", "DATE32"),
    ColumnKind.JSON: ("JSON", "JSONB", "VARIANT", "OBJECT", "SUPER", "STRUCT", "MAP"),
    ColumnKind.BINARY: ("BINARY", "VARBINARY", "BLOB", "LONGBLOB", "MEDIUMBLOB", "TINYBLOB",
                        "IMAGE"),
}.items():  # fmt: skip
    for _name in _types:
        if hasattr(exp.DataType.Type, _name):
            _KINDS[getattr(exp.DataType.Type, _name)] = _kind


def kind_of(type_name: str, dialect: str) -> ColumnKind:
    """The :class:`ColumnKind` of a warehouse type name, parsed by sqlglot's ``dialect``."""
    text = type_name.strip()
    if text.lower() in ("tinyint(1)",) and dialect == "mysql":
        return ColumnKind.BOOLEAN
    try:
        parsed = exp.DataType.build(text, dialect=dialect)
    except Exception:  # sqlglot raises several types for names it does not know
        return ColumnKind.OTHER
    return _KINDS.get(parsed.this, ColumnKind.OTHER)


def kind_of_arrow(t: pa.DataType) -> ColumnKind:
    """The :class:`ColumnKind` of an Arrow type (file sources, DuckDB)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return ColumnKind.STRING
    if pa.types.is_integer(t):
        return ColumnKind.INTEGER
    if pa.types.is_floating(t):
        return ColumnKind.FLOAT
    if pa.types.is_decimal(t):
        return ColumnKind.DECIMAL
    if pa.types.is_boolean(t):
        return ColumnKind.BOOLEAN
    if pa.types.is_timestamp(t):
        return ColumnKind.TIMESTAMP
    if pa.types.is_date(t):
        return ColumnKind.DATE
    if pa.types.is_struct(t) or pa.types.is_map(t) or pa.types.is_list(t):
        return ColumnKind.JSON
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return ColumnKind.BINARY
    return ColumnKind.OTHER


@dataclass(frozen=True)
class TableRef:
    """A table or view: ``[schema.]name`` (``schema`` may be ``catalog.schema``)."""

    name: str
    schema: str | None = None

    @classmethod
    def parse(cls, text: str) -> TableRef:
        text = text.strip()
        if not text:
            from driftline.errors import InvalidInput

            raise InvalidInput("--table must name a table, e.g. public.orders", field="table")
        schema, dot, name = text.rpartition(".")
        return cls(name, schema or None) if dot else cls(text)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def to_sql(self) -> exp.Table:
        """The quoted table expression (identifiers from users are always quoted)."""
        parts = self.schema.split(".") if self.schema else []
        db = parts[-1] if parts else None
        catalog = parts[-2] if len(parts) > 1 else None
        return exp.table_(self.name, db=db, catalog=catalog, quoted=True)


@dataclass(frozen=True)
class Column:
    name: str
    type_name: str  # as the warehouse names it
    kind: ColumnKind
    nullable: bool = True


@dataclass(frozen=True)
class TableSchema:
    table: TableRef
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        # warehouses that fold unquoted names (Snowflake upper, Postgres lower)
        folded = [c for c in self.columns if c.name.lower() == name.lower()]
        return folded[0] if len(folded) == 1 else None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class ReadRequest:
    """What to read: ``columns`` of ``table``, rows with ``since_column >= since`` when set."""

    table: TableRef
    columns: tuple[str, ...]
    since_column: str | None = None
    since: dt.datetime | None = None
    since_type: str | None = None  # the column's own type name: the literal is cast to it
    limit: int | None = None
    order_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    """What a source can do, as data the engine reads."""

    name: str
    dialect: str  # sqlglot dialect of the warehouse's SQL
    modes: frozenset[SyncMode] = ALL_MODES
    arrow_path: str = (
        ""  # how rows become Arrow: "COPY + pyarrow.csv", "ADBC", "vendor Arrow fetch", ...
    )
    batch_rows: int = 100_000
    views: bool = True  # tables and views can be read
    checksums: bool = False  # can compute Mirror's row checksums in the warehouse
    url_schemes: tuple[str, ...] = field(default_factory=tuple)


class Source(Protocol):
    """A warehouse driftline reads from."""

    capabilities: Capabilities

    def check(self) -> list[str]:
        """Reach the warehouse and check read permissions; return lines describing it."""

    def list_tables(self) -> list[TableRef]:
        """Tables and views the credentials can read."""

    def describe(self, table: TableRef) -> TableSchema:
        """The table's columns in table order (:class:`NotFound` when it does not exist)."""

    def count(self, request: ReadRequest) -> int:
        """How many rows ``read(request)`` would yield."""

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        """The rows as Arrow record batches, filters pushed down, memory bounded."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class WarehouseChecksums(Protocol):
    """Optional: per-row checksums computed inside the warehouse (Mirror's change detection).

    ``checksum_sql`` returns the SELECT that yields ``(key columns..., _dl_checksum)`` for
    every row, hashing all columns in table order with trailing NULLs left out;
    ``read_checksums`` runs it as Arrow batches. Mirror diffs two such snapshots.
    """

    def checksum_sql(self, table: TableSchema, key: Sequence[str]) -> str: ...

    def read_checksums(
        self, table: TableSchema, key: Sequence[str]
    ) -> Iterator[pa.RecordBatch]: ...


@dataclass(frozen=True)
class StoreRead:
    """A source's read as SQL that the store's own DuckDB runs (see ``store_read_sql``).

    ``attach`` is ``(alias, path)`` of a DuckDB database file the SQL reads through
    ``alias``: the store attaches it read-only for the run's statement and detaches it after.
    """

    sql: str
    attach: tuple[str, str] | None = None


@runtime_checkable
class MapsInPlace(Protocol):
    """Optional: the warehouse is DuckDB itself (DuckDB files, Parquet folders), so the
    mapping's DuckDB query runs right over the read, in the source's own engine: one
    parallel query from the files to mapped rows, no hand-off of raw batches.

    ``mapping_sql`` reads a relation named by ``relation``: the request's columns plus
    ``_seq`` (its values are left to the engine, which numbers the rows it receives).
    """

    def read_mapped(
        self, request: ReadRequest, schema: TableSchema, relation: str, mapping_sql: str,
        params: dict[str, object] | None,
    ) -> Iterator[pa.RecordBatch]: ...  # fmt: skip
