"""Row checksums computed inside the warehouse (the hook Mirror builds on).

``row_checksum(table)`` is a sqlglot expression, rendered in each source's dialect: MD5 over
the row's columns in table order, each written as a tagged piece (``\\x1fv<value>`` or
``\\x1fN`` for NULL), with the trailing run of NULL pieces cut off. Adding a column that is
NULL everywhere therefore changes no checksum; writing a value into it changes exactly the
rows written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from driftline.sync.sources.base import TableSchema

SEP = "\x1f"


def _piece(name: str) -> exp.Expression:
    value = exp.cast(exp.column(name, quoted=True), exp.DataType.build("text"))
    tagged = exp.DPipe(this=exp.Literal.string(SEP + "v"), expression=value, safe=True)
    return exp.Coalesce(this=tagged, expressions=[exp.Literal.string(SEP + "N")])


def row_checksum(table: TableSchema) -> exp.Expression:
    pieces = [_piece(c.name) for c in table.columns]
    joined: exp.Expression = pieces[0]
    for piece in pieces[1:]:
        joined = exp.DPipe(this=joined, expression=piece, safe=True)
    trimmed = exp.RegexpReplace(
        this=joined,
        expression=exp.Literal.string(f"({SEP}N)+$"),
        replacement=exp.Literal.string(""),
    )
    return exp.MD5(this=trimmed)


# ---------------------------------------------------------------------- Mirror's reads
CHECKSUM = "_dl_checksum"
_MARK = "DL_IN_LIST_MARK"
_HEX = re.compile(r"^[0-9a-f]{16,64}$")


def _fast_literal(value: str | int, dialect: str) -> str:
    """A SQL literal for a key or a checksum, rendered without building a tree per value:
    integers as digits, strings without quotes or backslashes between single quotes (the
    same text in every dialect), anything else rendered by sqlglot."""
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, int):
        return str(int(value))
    if "'" not in value and "\\" not in value:
        return f"'{value}'"
    return exp.Literal.string(value).sql(dialect=dialect)


def in_list_sql(query: exp.Select, target: exp.Expression, values: Sequence[str | int],
                dialect: str) -> str:  # fmt: skip
    """``query WHERE target IN (values...)`` rendered in ``dialect``. Tens of thousands of
    values render in milliseconds: the list is spliced in after sqlglot renders the rest."""
    if not values:
        return query.where(exp.false()).sql(dialect=dialect)
    marker = exp.column(_MARK)
    sql = query.where(exp.In(this=target, expressions=[marker])).sql(dialect=dialect)
    listed = ", ".join(_fast_literal(v, dialect) for v in values)
    assert sql.count(_MARK) == 1
    return sql.replace(_MARK, listed)


def checksum_values(values: Sequence[str]) -> list[str]:
    """Checksums as they come back from the warehouse: lower-case hex digits, checked."""
    out = [v.lower() for v in values]
    for v in out:
        if not _HEX.match(v):
            raise ValueError(f"not a row checksum: {v!r}")
    return out


def rows_sql(
    source: Any, table: TableSchema, columns: Sequence[str], by: str | None = None,
    values: Sequence[str | int] = (),
) -> str:  # fmt: skip
    """Mirror's fetch on a :class:`~driftline.sync.sources.sql.SqlSource`: ``columns`` as the
    read path selects them, plus each row's checksum; with ``by`` (a key column, or
    :data:`CHECKSUM`), only the rows whose key or checksum is one of ``values``."""
    by_name = {c.name: c for c in table.columns}
    projections: list[exp.Expression] = []
    for name in columns:
        expr = source.column_expr(by_name[name])
        if not isinstance(expr, exp.Column):
            expr = exp.alias_(expr, name, quoted=True)
        projections.append(expr)
    checksum = source.row_checksum(table)
    projections.append(exp.alias_(checksum, CHECKSUM))
    query = exp.select(*projections).from_(source._table(table.table))
    if by is None:
        return str(source.render(query))
    target = checksum if by == CHECKSUM else exp.column(by, quoted=True)
    return in_list_sql(query, target, values, source.dialect)


def hashed_row_checksum(table: TableSchema, hashable: Sequence[bool]) -> exp.Expression:
    """PostgreSQL's cheaper checksum: ``hash_record_extended`` (PostgreSQL 14+, the types' own
    hash functions, no text conversion) over the columns up to the row's last non-NULL one,
    as 16 hex digits. Columns whose type has no hash function (``json``, arrays of such...)
    are hashed as text. MD5 costs several times more per row in PostgreSQL."""
    refs: list[exp.Expression] = []
    for col, ok in zip(table.columns, hashable, strict=True):
        ref: exp.Expression = exp.column(col.name, quoted=True)
        refs.append(ref if ok else exp.cast(ref, exp.DataType.build("text")))

    def hashed(n: int) -> exp.Expression:
        row = exp.Anonymous(this="ROW", expressions=refs[:n])
        h = exp.Anonymous(this="hash_record_extended", expressions=[row, exp.Literal.number(0)])
        return exp.Anonymous(
            this="lpad",
            expressions=[exp.Anonymous(this="to_hex", expressions=[h]), exp.Literal.number(16),
                         exp.Literal.string("0")],
        )  # fmt: skip

    case = exp.Case()
    for n in range(len(refs), 0, -1):
        case = case.when(
            exp.column(table.columns[n - 1].name, quoted=True).is_(exp.null()).not_(), hashed(n)
        )
    return case.else_(exp.Literal.string("0" * 16))
