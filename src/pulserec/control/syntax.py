"""The filter and boost language: tokens, a recursive-descent parser and its syntax tree.

Grammar, loosest binding first (``not in`` is one operator; comparisons do not chain)::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") sum]
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := "-" unary | primary
    primary := NUMBER | DURATION | STRING | "true" | "false" | "(" expr ")"
             | "[" [expr ("," expr)*] "]" | "now" "(" ")"
             | ("item" | "user" | "context") "." NAME

A duration is a number with a unit, in seconds: ``30s``, ``15m``, ``2h``, ``7d``, ``1w``.
Strings are quoted with ``'`` or ``"``; ``\\`` escapes the quote, itself, ``n`` and ``t``.
Every error names the 0-based position in the expression where it was found.

Examples
--------
>>> parse("now() - 7d")
Binary(pos=6, op='-', left=Now(pos=0), right=Literal(pos=8, value=604800.0))
>>> parse("item.price <")
Traceback (most recent call last):
...
pulserec.control.syntax.ExpressionError: expected a value at position 12 (end of expression)
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LENGTH = 2000
"""Longest expression accepted, in characters."""
MAX_DEPTH = 40
"""Deepest nesting accepted (parentheses, lists, unary operators)."""

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
"""Seconds per duration unit."""

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
SCOPES = ("item", "user", "context")
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in", "not in"})


class ExpressionError(ValueError):
    """An expression that cannot be parsed or compiled; ``position`` is 0-based."""

    def __init__(self, message: str, position: int, text: str = "") -> None:
        where = (
            f"at position {position} (end of expression)"
            if text and position >= len(text)
            else f"at position {position}"
        )
        super().__init__(f"{message} {where}")
        self.message = message
        self.position = position


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "num", "str", "name", "op", "end"
    value: str | float
    pos: int


_TWO = ("==", "!=", "<=", ">=")
_ONE = "<>+-*/()[],."


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters", 0)
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            start = i
            while i < n and (text[i].isdigit() or text[i] == "."):
                i += 1
            if (
                i < n
                and text[i] in "eE"
                and i + 1 < n
                and (text[i + 1].isdigit() or text[i + 1] in "+-")
            ):
                i += 2
                while i < n and text[i].isdigit():
                    i += 1
            try:
                number = float(text[start:i])
            except ValueError:
                raise ExpressionError(f"not a number: {text[start:i]!r}", start, text) from None
            if i < n and (text[i].isalpha() or text[i] == "_"):
                end = i
                while end < n and (text[end].isalnum() or text[end] == "_"):
                    end += 1
                unit = text[i:end]
                if unit not in UNITS:
                    raise ExpressionError(
                        f"unknown duration unit {unit!r} (use s, m, h, d or w)", i, text
                    )
                number *= UNITS[unit]
                i = end
            out.append(Token("num", number, start))
        elif c.isalpha() or c == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            out.append(Token("name", text[start:i], start))
        elif c in "'\"":
            start, i = i, i + 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise ExpressionError("unterminated string", start, text)
                ch = text[i]
                if ch == c:
                    i += 1
                    break
                if ch == "\\" and i + 1 < n:
                    esc = text[i + 1]
                    chars.append({"n": "\n", "t": "\t"}.get(esc, esc))
                    i += 2
                    continue
                chars.append(ch)
                i += 1
            out.append(Token("str", "".join(chars), start))
        elif text.startswith(_TWO, i):
            out.append(Token("op", text[i : i + 2], i))
            i += 2
        elif c in _ONE:
            out.append(Token("op", c, i))
            i += 1
        elif c == "=":
            raise ExpressionError("use == to compare", i, text)
        else:
            raise ExpressionError(f"unexpected character {c!r}", i, text)
    out.append(Token("end", "", n))
    return out


@dataclass(frozen=True, slots=True)
class Node:
    pos: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: float | str | bool


@dataclass(frozen=True, slots=True)
class ListOf(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Field(Node):
    scope: str  # "item", "user" or "context"
    name: str


@dataclass(frozen=True, slots=True)
class Now(Node):
    pass


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


def parse(text: str) -> Node:
    """The syntax tree of one expression.

    Raises
    ------
    ExpressionError
        Saying what was expected and at which position.
    """
    if not text.strip():
        raise ExpressionError("the expression is empty", 0)
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: Token | None = None) -> ExpressionError:
        return ExpressionError(message, (tok or self.tok).pos, self.text)

    def at(self, kind: str, value: str | None = None) -> bool:
        t = self.tok
        return t.kind == kind and (value is None or t.value == value)

    def take(self) -> Token:
        t = self.tok
        self.i += 1
        return t

    def expect(self, value: str) -> Token:
        if not (self.tok.kind == "op" and self.tok.value == value):
            raise self.error(f"expected {value!r}, found {self.describe(self.tok)}")
        return self.take()

    @staticmethod
    def describe(tok: Token) -> str:
        if tok.kind == "end":
            return "the end"
        if tok.kind == "str":
            return f"the string {tok.value!r}"
        if tok.kind == "num":
            return f"the number {tok.value:g}"
        return repr(tok.value)

    def parse(self) -> Node:
        node = self.expr()
        if not self.at("end"):
            raise self.error(f"unexpected {self.describe(self.tok)}")
        return node

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the expression nests deeper than {MAX_DEPTH} levels")

    def expr(self) -> Node:
        node = self.conj()
        while self.at("name", "or"):
            t = self.take()
            node = Binary(t.pos, "or", node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.neg()
        while self.at("name", "and"):
            t = self.take()
            node = Binary(t.pos, "and", node, self.neg())
        return node

    def neg(self) -> Node:
        if self.at("name", "not"):
            self.nest()
            t = self.take()
            node = Unary(t.pos, "not", self.neg())
            self.depth -= 1
            return node
        return self.compare()

    def compare(self) -> Node:
        node = self.sum()
        t = self.tok
        op: str | None = None
        if t.kind == "op" and t.value in COMPARISONS:
            op = str(t.value)
            self.take()
        elif self.at("name", "in"):
            op = "in"
            self.take()
        elif (
            self.at("name", "not")
            and self.tokens[self.i + 1].kind == "name"
            and (self.tokens[self.i + 1].value == "in")
        ):
            op = "not in"
            self.i += 2
        if op is None:
            return node
        node = Binary(t.pos, op, node, self.sum())
        nxt = self.tok
        if (nxt.kind == "op" and nxt.value in COMPARISONS) or self.at("name", "in"):
            raise self.error("comparisons do not chain; join them with 'and'")
        return node

    def sum(self) -> Node:
        node = self.product()
        while self.tok.kind == "op" and self.tok.value in ("+", "-"):
            t = self.take()
            node = Binary(t.pos, str(t.value), node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.value in ("*", "/"):
            t = self.take()
            node = Binary(t.pos, str(t.value), node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("op", "-"):
            self.nest()
            t = self.take()
            node = Unary(t.pos, "-", self.unary())
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.take()
            return Literal(t.pos, float(t.value))
        if t.kind == "str":
            self.take()
            return Literal(t.pos, str(t.value))
        if t.kind == "op" and t.value == "(":
            self.nest()
            self.take()
            node = self.expr()
            self.expect(")")
            self.depth -= 1
            return node
        if t.kind == "op" and t.value == "[":
            self.nest()
            self.take()
            items: list[Node] = []
            if not self.at("op", "]"):
                items.append(self.expr())
                while self.at("op", ","):
                    self.take()
                    items.append(self.expr())
            self.expect("]")
            self.depth -= 1
            return ListOf(t.pos, tuple(items))
        if t.kind == "name":
            name = str(t.value)
            if name in ("true", "false"):
                self.take()
                return Literal(t.pos, name == "true")
            if name == "now":
                self.take()
                self.expect("(")
                self.expect(")")
                return Now(t.pos)
            if name in SCOPES:
                self.take()
                self.expect(".")
                field = self.tok
                if field.kind != "name":
                    raise self.error(f"expected a property name after '{name}.'")
                self.take()
                return Field(t.pos, name, str(field.value))
            if name in KEYWORDS:
                raise self.error(f"expected a value, found {name!r}")
            raise self.error(
                f"unknown name {name!r}: use item.<property>, user.<field>, "
                "context.<property>, now(), a number, a duration, a quoted string, true or false"
            )
        raise self.error("expected a value")
