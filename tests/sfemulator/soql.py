"""The SOQL subset the emulator understands, compiled to polars expressions.

``SELECT f1, f2 FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC]] [LIMIT n]`` where ``cond`` is
comparisons (``= != <> < <= > >=``), ``IN (...)``, ``NOT``, ``AND``, ``OR`` and parentheses
over string, number, boolean, null, date and datetime literals. Errors carry Salesforce's
exception codes and message shapes, so a batch can fail the way a real one does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_UNSUPPORTED = ("COUNT", "GROUP", "OFFSET", "TYPEOF", "HAVING", "SUM", "AVG", "MIN", "MAX")


class SoqlError(Exception):
    """A query Salesforce would reject: `code` is the SOAP exception code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class Query:
    fields: list[str]
    object: str
    where: Any  # nested tuples (see _Parser), None when there is no WHERE
    order_by: tuple[str, bool] | None
    limit: int | None
    text: str


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {text[pos : pos + 10]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, upper: bool = True) -> str:
        if self.i >= len(self.toks):
            return ""
        value = self.toks[self.i][1]
        return value.upper() if upper else value

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.i += 1
        return self.toks[self.i - 1]

    def expect(self, word: str) -> None:
        _, value = self.take()
        if value.upper() != word:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")

    def query(self) -> Query:
        self.expect("SELECT")
        fields = [self.name()]
        while self.peek() == ",":
            self.take()
            fields.append(self.name())
        self.expect("FROM")
        obj = self.name(keyword_ok=True)  # `FROM Group` is fine
        where = order = limit = None
        if self.peek() == "WHERE":
            self.take()
            where = self.disjunction()
        if self.peek() == "ORDER":
            self.take()
            self.expect("BY")
            field = self.name()
            desc = self.peek() in ("ASC", "DESC") and self.take()[1].upper() == "DESC"
            order = (field, desc)
        if self.peek() == "LIMIT":
            self.take()
            limit = int(self.take()[1])
        if self.i != len(self.toks):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek(False)}'")
        return Query(fields, obj, where, order, limit, self.text)

    def name(self, keyword_ok: bool = False) -> str:
        kind, value = self.take()
        if kind != "name" or (value.upper() in _UNSUPPORTED and not keyword_ok):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")
        return value

    def disjunction(self) -> Any:
        node = self.conjunction()
        while self.peek() == "OR":
            self.take()
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Any:
        node = self.factor()
        while self.peek() == "AND":
            self.take()
            node = ("and", node, self.factor())
        return node

    def factor(self) -> Any:
        if self.peek() == "NOT":
            self.take()
            return ("not", self.factor())
        if self.peek() == "(":
            self.take()
            node = self.disjunction()
            self.expect(")")
            return node
        field = self.name()
        negate = self.peek() == "NOT"
        if negate:
            self.take()
        if self.peek() == "IN":
            self.take()
            self.expect("(")
            values = [self.literal()]
            while self.peek() == ",":
                self.take()
                values.append(self.literal())
            self.expect(")")
            node = ("in", field, values)
            return ("not", node) if negate else node
        op = self.take()[1]
        if op not in ("=", "!=", "<>", "<", "<=", ">", ">="):
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{op}'")
        return ("cmp", field, "!=" if op == "<>" else op, self.literal())

    def literal(self) -> tuple[str, Any]:
        kind, value = self.take()
        if kind == "str":
            return ("str", re.sub(r"\\(.)", r"\1", value[1:-1]))
        if kind == "num":
            return ("num", float(value))
        if kind == "date":
            return ("date", date.fromisoformat(value))
        if kind == "dt":
            return ("dt", datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC))
        if kind == "name" and value.lower() in ("true", "false", "null"):
            return ("name", {"true": True, "false": False, "null": None}[value.lower()])
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{value}'")


def parse(text: str) -> Query:
    """Parse a SOQL query of the supported subset (raises `SoqlError`)."""
    return _Parser(text).query()


def invalid_field(query: Query, field: str, obj: str) -> SoqlError:
    """Salesforce's message for an unknown column, caret and all."""
    column = query.text.find(field) + 1
    return SoqlError(
        "INVALID_FIELD",
        f"{query.text[:60]}            ^ ERROR at Row:1:Column:{column} No such column "
        f"'{field}' on entity '{obj}'. If you are attempting to use a custom field, be sure to "
        "append the '__c' after the custom field name. Please reference your WSDL or the "
        "describe call for the appropriate names.",
    )


def _value(literal: tuple[str, Any], dtype: pl.DataType, query: Query) -> pl.Expr:
    kind, value = literal
    if value is None:
        return pl.lit(None)
    if isinstance(dtype, pl.Datetime):
        if kind != "dt":
            raise SoqlError(
                "INVALID_FIELD", f"value of filter criterion must be a datetime: {query.text[:60]}"
            )
        return pl.lit(value, dtype=dtype)
    if dtype == pl.Date() and kind != "date":
        raise SoqlError(
            "INVALID_FIELD", f"value of filter criterion must be a date: {query.text[:60]}"
        )
    return pl.lit(value)


def compile_where(node: Any, schema: dict[str, pl.DataType], query: Query, obj: str) -> pl.Expr:
    """The polars filter for a parsed WHERE clause over a frame with `schema`."""
    kind = node[0]
    if kind in ("and", "or"):
        left = compile_where(node[1], schema, query, obj)
        right = compile_where(node[2], schema, query, obj)
        return (left & right) if kind == "and" else (left | right)
    if kind == "not":
        return ~compile_where(node[1], schema, query, obj)
    field = resolve(node[1], schema, query, obj)
    col = pl.col(field)
    if kind == "in":
        values = [v for _, v in node[2]]
        return col.is_in(values).fill_null(False)
    _, _, op, literal = node
    if literal[1] is None:
        return col.is_null() if op == "=" else col.is_not_null()
    value = _value(literal, schema[field], query)
    result = {
        "=": col == value,
        "!=": col != value,
        "<": col < value,
        "<=": col <= value,
        ">": col > value,
        ">=": col >= value,
    }[op]
    return result.fill_null(op == "!=")


def resolve(field: str, schema: dict[str, pl.DataType], query: Query, obj: str) -> str:
    """The stored column for `field`, matched case-insensitively like Salesforce does."""
    by_lower = {name.lower(): name for name in schema}
    if field.lower() not in by_lower:
        raise invalid_field(query, field, obj)
    return by_lower[field.lower()]
