"""Row checksums computed inside the warehouse (the hook Mirror builds on).

``row_checksum(table)`` is a sqlglot expression, rendered in each source's dialect: MD5 over
the row's columns in table order, each written as a tagged piece (``\\x1fv<value>`` or
``\\x1fN`` for NULL), with the trailing run of NULL pieces cut off. Adding a column that is
NULL everywhere therefore changes no checksum; writing a value into it changes exactly the
rows written.
"""

from __future__ import annotations

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
