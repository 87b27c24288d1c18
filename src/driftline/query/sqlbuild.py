"""Building report SQL as sqlglot expressions.

Reports are written as SQL templates in the DuckDB dialect and parsed by sqlglot once; the
parts that depend on a request (property accessors, filters, bucket expressions) are sqlglot
expressions put in place of ``$name`` placeholders, and every value from a user is a bound
parameter (``$p0``, ``$p1``, ...). No text from a request is ever pasted into SQL, and the
finished tree can be rendered for another engine with ``expression.sql(dialect)``.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import sqlglot
from sqlglot import exp

DIALECT = "duckdb"


class Params:
    """Values bound to a statement; :meth:`bind` returns the placeholder that refers to one."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> exp.Expression:
        name = next(
            (n for n, v in self.values.items() if type(v) is type(value) and v == value), None
        )
        if name is None:
            name = f"p{len(self.values)}"
            self.values[name] = value
        if isinstance(value, dt.datetime):
            return exp.cast(exp.Placeholder(this=name), exp.DataType.build("TIMESTAMP"))
        return exp.Placeholder(this=name)


@functools.lru_cache(maxsize=256)
def _parse(template: str) -> exp.Expression:
    return sqlglot.parse_one(template, read=DIALECT)


def template(sql: str, **parts: exp.Expression | str | int) -> exp.Expression:
    """Parse ``sql`` and put ``parts`` in place of the placeholders ``$name``.

    A part may be an expression (wrapped in parentheses where precedence could matter), a
    Python ``str`` (an identifier: a table or CTE name chosen by the code, never by a user) or
    an ``int`` (a literal). Placeholders not in ``parts`` stay: they are bound parameters.
    """

    def put(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.this in parts:
            part = parts[node.this]
            if isinstance(part, bool):
                return exp.true() if part else exp.false()
            if isinstance(part, int):
                return exp.Literal.number(part)
            if isinstance(part, str):
                return exp.to_identifier(part)
            if isinstance(part, exp.Binary | exp.Not | exp.Case | exp.Connector):
                return exp.paren(part.copy(), copy=False)
            return part.copy()
        return node

    return _parse(sql).copy().transform(put, copy=False)


def render(expression: exp.Expression) -> str:
    return expression.sql(DIALECT)


def and_all(conditions: list[exp.Expression]) -> exp.Expression:
    if not conditions:
        return exp.true()
    return exp.and_(*[exp.paren(c.copy(), copy=False) for c in conditions], copy=False)


def string_list(values: list[str], params: Params) -> exp.Expression:
    """A bound ``VARCHAR[]`` value."""
    return exp.cast(params.bind(list(values)), exp.DataType.build("VARCHAR[]"))
