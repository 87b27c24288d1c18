"""The filter language of ``--where`` (and of the API's ``where``), and property references.

Grammar (keywords are case-insensitive)::

    expr      := or
    or        := and ("or" and)*
    and       := unary ("and" unary)*
    unary     := "not" unary | "(" expr ")" | predicate
    predicate := "defined" "(" prop ")"
               | prop ("==" | "=" | "!=" | ">" | ">=" | "<" | "<=") value
               | prop ["not"] "in" list
               | prop ["not"] "contains" string
               | prop "is" ["not"] "set"
               | prop ["not"] "between" value "and" value
               | value ["not"] "in" prop          (Mixpanel's form of contains)
    list      := "(" value ("," value)* ")" | "[" value ("," value)* "]"
    value     := "string" | 'string' | number | true | false
    prop      := name | `any name` | user.name | group.KEY.name | LOOKUP_PROP.column
               | properties["name"] | event["name"] | user["name"] | group["KEY"]["name"]

``time`` (or ``$time``) is the event time: compare it with dates or date-times in the
project's timezone (``time >= "2025-03-01"``, ``time between "2025-03-01" and "2025-03-08"``;
a date alone as an upper bound of ``<=`` or ``between`` means the whole day). Numbers compare
numerically (text that is not a number never matches), strings as text; ``contains`` is a
case-sensitive substring test (on a list property: has an element equal to the value).

The parser returns a small tree; :func:`compile_filter` turns it into a sqlglot condition
with every value bound as a parameter.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from driftline.errors import InvalidInput
from driftline.query.properties import PropertyRef, PropertyResolver

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![A-Za-z_$])
    | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<bq>`[^`]+`)
    | (?P<op>==|!=|>=|<=|=|>|<|\(|\)|\[|\]|,|\.)
    | (?P<name>[A-Za-z_$][A-Za-z0-9_$\-]*)
    )""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "in", "contains", "is", "set", "defined", "between",
            "true", "false"}  # fmt: skip


@dataclass(frozen=True)
class Token:
    kind: str  # num | str | name | op | end
    text: str
    value: Any
    pos: int


def tokenize(text: str, field: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            at = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise InvalidInput(
                f"{field}: unexpected character {text[at]!r} at position {at + 1}",
                field=field,
            )
        kind = match.lastgroup or ""
        raw = match.group(kind)
        start = match.start(kind)
        if kind == "num":
            value: Any = float(raw) if any(c in raw for c in ".eE") else int(raw)
        elif kind == "str":
            value = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif kind == "bq":
            kind, value = "quoted", raw[1:-1]
        else:
            value = raw
        tokens.append(Token(kind, raw, value, start))
        pos = match.end()
    tokens.append(Token("end", "", None, len(text)))
    return tokens


# ---------------------------------------------------------------- tree
@dataclass(frozen=True)
class Compare:
    prop: PropertyRef
    op: str  # = != > >= < <= in contains set between
    values: tuple[Any, ...] = ()
    negate: bool = False


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | BoolOp | Not


class Parser:
    def __init__(self, text: str, field: str) -> None:
        self.text = text
        self.field = field
        self.tokens = tokenize(text, field)
        self.i = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, expected: str) -> InvalidInput:
        tok = self.tok
        found = "the end" if tok.kind == "end" else repr(tok.text)
        return InvalidInput(
            f"{self.field}: expected {expected} at position {tok.pos + 1}, found {found} "
            f'(example: plan = "pro" and user.country in ("US", "DE"))',
            field=self.field,
        )

    def keyword(self, *words: str) -> bool:
        tok = self.tok
        if tok.kind == "name" and tok.text.lower() in words:
            self.i += 1
            return True
        return False

    def punct(self, *ops: str) -> str | None:
        tok = self.tok
        if tok.kind == "op" and tok.text in ops:
            self.i += 1
            return tok.text
        return None

    def expect(self, op: str) -> None:
        if not self.punct(op):
            raise self.error(repr(op))

    # grammar
    def parse(self) -> Node:
        node = self.parse_or()
        if self.tok.kind != "end":
            raise self.error("'and', 'or' or the end")
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.keyword("or"):
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_unary()]
        while self.keyword("and"):
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def parse_unary(self) -> Node:
        if self.keyword("not"):
            return Not(self.parse_unary())
        if self.punct("("):
            node = self.parse_or()
            self.expect(")")
            return node
        if self.keyword("defined"):
            self.expect("(")
            prop = self.parse_property()
            self.expect(")")
            return Compare(prop, "set")
        return self.parse_predicate()

    def parse_predicate(self) -> Node:
        tok = self.tok
        if tok.kind in ("str", "num"):  # Mixpanel's `"x" in properties["tags"]`
            value = self.parse_value()
            negate = self.keyword("not")
            if not self.keyword("in"):
                raise self.error("'in' after a value (\"x\" in tags)")
            return Compare(self.parse_property(), "contains", (value,), negate)
        prop = self.parse_property()
        op = self.punct("==", "=", "!=", ">", ">=", "<", "<=")
        if op:
            value = self.parse_value()
            if op == "!=":
                return Compare(prop, "=", (value,), negate=True)
            return Compare(prop, "=" if op == "==" else op, (value,))
        negate = self.keyword("not")
        if self.keyword("in"):
            return Compare(prop, "in", self.parse_list(), negate)
        if self.keyword("contains"):
            value = self.parse_value()
            return Compare(prop, "contains", (value,), negate)
        if self.keyword("between"):
            low = self.parse_value()
            if not self.keyword("and"):
                raise self.error("'and' (between X and Y)")
            high = self.parse_value()
            return Compare(prop, "between", (low, high), negate)
        if not negate and self.keyword("is"):
            negate = self.keyword("not")
            if not self.keyword("set"):
                raise self.error("'set' (is set / is not set)")
            return Compare(prop, "set", (), negate)
        raise self.error("a comparison (=, !=, >, >=, <, <=, in, contains, between, is set)")

    def parse_list(self) -> tuple[Any, ...]:
        close = {"(": ")", "[": "]"}.get(self.punct("(", "[") or "")
        if close is None:
            raise self.error('a list such as ("a", "b")')
        values = [self.parse_value()]
        while self.punct(","):
            values.append(self.parse_value())
        self.expect(close)
        return tuple(values)

    def parse_value(self) -> Any:
        tok = self.tok
        if tok.kind in ("num", "str"):
            self.i += 1
            return tok.value
        if self.keyword("true"):
            return True
        if self.keyword("false"):
            return False
        raise self.error('a value (a "string", a number, true or false)')

    def name(self) -> str:
        tok = self.tok
        if tok.kind in ("name", "quoted"):
            self.i += 1
            return str(tok.value)
        raise self.error("a property name")

    def bracket(self) -> str:
        self.expect("[")
        tok = self.tok
        if tok.kind != "str":
            raise self.error('a quoted name, e.g. ["plan"]')
        self.i += 1
        self.expect("]")
        return str(tok.value)

    def parse_property(self) -> PropertyRef:
        tok = self.tok
        head_quoted = tok.kind == "quoted"
        head = self.name()
        lowered = head.lower()
        if not head_quoted and self.tok.kind == "op" and self.tok.text == "[":
            if lowered in ("properties", "event"):
                return PropertyRef("event", self.bracket())
            if lowered == "user":
                return PropertyRef("user", self.bracket())
            if lowered == "group":
                key = self.bracket()
                return PropertyRef("group", self.bracket(), key)
            raise self.error("properties[...], user[...] or group[...][...]")
        if not head_quoted and self.punct("."):
            if lowered == "user":
                return PropertyRef("user", self.name())
            if lowered == "group":
                key = self.name()
                if not self.punct("."):
                    raise self.error("group.KEY.property")
                return PropertyRef("group", self.name(), key)
            if lowered in ("properties", "event"):
                return PropertyRef("event", self.name())
            return PropertyRef("lookup", self.name(), head)
        if not head_quoted and lowered in KEYWORDS:
            raise self.error("a property name")
        return PropertyRef("event", head)


def parse_filter(text: str, field: str = "where") -> Node:
    if not text or not text.strip():
        raise InvalidInput(f"{field} is empty", field=field)
    if len(text) > 10_000:
        raise InvalidInput(f"{field} is longer than 10000 characters", field=field)
    return Parser(text, field).parse()


def parse_property(text: str, field: str = "on") -> PropertyRef:
    """One property reference (``--on``, ``--by``, ``hold``)."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput(f"{field} is empty", field=field)
    parser = Parser(text, field)
    ref = parser.parse_property()
    if parser.tok.kind != "end":
        raise parser.error("the end of the property name")
    return ref


# ---------------------------------------------------------------- compile
_NUMERIC = exp.DataType.build("DOUBLE")


def compile_filter(node: Node, resolver: PropertyResolver, timeline: Any) -> exp.Expression:
    """``node`` as a sqlglot condition; NULL (unset) properties never match a comparison,
    and a negated comparison matches them (``plan != "pro"`` is true for users without a plan),
    as in Mixpanel."""
    if isinstance(node, BoolOp):
        parts = [exp.paren(compile_filter(n, resolver, timeline), copy=False) for n in node.items]
        return exp.and_(*parts, copy=False) if node.op == "and" else exp.or_(*parts, copy=False)
    if isinstance(node, Not):
        inner = compile_filter(node.item, resolver, timeline)
        return exp.not_(exp.func("coalesce", inner, exp.false()))
    resolver.check(node.prop)
    cond = _compare(node, resolver, timeline)
    if node.op == "set":
        return exp.not_(cond) if node.negate else cond
    cond = exp.func("coalesce", cond, exp.false())
    return exp.not_(cond) if node.negate else cond


def _compare(node: Compare, resolver: PropertyResolver, timeline: Any) -> exp.Expression:
    prop = node.prop
    bind = resolver.params.bind
    if prop.column == "time":
        return _compare_time(node, resolver, timeline)
    text = resolver.text(prop)
    if node.op == "set":
        return text.is_(exp.null()).not_()
    values = node.values
    if node.op == "contains":
        needle = str(values[0]).lower() if isinstance(values[0], bool) else str(values[0])
        if prop.kind == "event" and prop.column is None:
            # a list property: an element equal to the value; text: a substring
            raw = exp.func("json_extract", resolver.col("properties"), _path(prop))
            is_list = exp.func("json_type", raw).eq(exp.Literal.string("ARRAY"))
            in_list = exp.func(
                "list_contains",
                exp.cast(raw, exp.DataType.build("VARCHAR[]")),
                bind(needle),
            )
            substring = exp.func("contains", text, bind(needle))
            return exp.Case().when(is_list, in_list).else_(substring)
        return exp.func("contains", text, bind(needle))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numeric:
        lhs: exp.Expression = exp.TryCast(this=text, to=_NUMERIC)
        rhs = [bind(float(v)) for v in values]
    else:
        lhs = text
        rhs = [bind(_text(v)) for v in values]
    if node.op == "in":
        return lhs.isin(*rhs)
    if node.op == "between":
        return exp.Between(this=lhs, low=rhs[0], high=rhs[1])
    return _binary(node.op, lhs, rhs[0])


def _path(prop: PropertyRef) -> exp.Expression:
    from driftline.query.properties import json_path

    return json_path(prop.name)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _binary(op: str, lhs: exp.Expression, rhs: exp.Expression) -> exp.Expression:
    cls = {"=": exp.EQ, ">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE}[op]
    return cls(this=lhs, expression=rhs)


def _compare_time(node: Compare, resolver: PropertyResolver, timeline: Any) -> exp.Expression:
    column = resolver.col("time")
    if node.op == "set":
        return exp.true()
    if node.op not in ("=", ">", ">=", "<", "<=", "between"):
        raise InvalidInput(
            f"time supports =, !=, >, >=, <, <= and between (got {node.op})", field="where"
        )

    def instant(value: Any, upper: bool) -> dt.datetime:
        if not isinstance(value, str):
            raise InvalidInput(
                'time compares with a date or date-time string, e.g. time >= "2025-03-01"',
                field="where",
            )
        at = timeline.parse_instant(value, "where")
        if upper and len(value.strip()) == 10:  # a date alone as upper bound: the whole day
            at = timeline.utc(dt.datetime.fromisoformat(value.strip()) + dt.timedelta(days=1))
            return at
        return at

    bind = resolver.params.bind
    if node.op == "between":
        lo = instant(node.values[0], False)
        hi = instant(node.values[1], True)
        return (
            exp.and_(column >= bind(lo), column < bind(hi))
            if _is_day(node.values[1])
            else (exp.and_(column >= bind(lo), column <= bind(hi)))
        )
    value = node.values[0]
    if node.op == "=" and _is_day(value):
        return exp.and_(column >= bind(instant(value, False)), column < bind(instant(value, True)))
    if node.op == "<=" and _is_day(value):
        return column < bind(instant(value, True))
    if node.op == ">" and _is_day(value):
        return column >= bind(instant(value, True))
    return _binary(node.op, column, bind(instant(value, False)))


def _is_day(value: Any) -> bool:
    return isinstance(value, str) and len(value.strip()) == 10
