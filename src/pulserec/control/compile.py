"""Filter and boost expressions compiled to vectorised functions over the catalog.

An expression is type-checked against the catalog's properties once, and becomes a
function of an :class:`Env` (the property columns, the rows to evaluate, the time and
the user) that computes every item at once with numpy. A value a property does not
have is *missing*: arithmetic with it stays missing, and any comparison or ``in`` with
it is false (so ``not (item.price < 50)`` keeps the items without a price).

``user.*`` reads the user the list is for: ``user.id``, ``user.seen`` and
``user.recent_items`` (item ids, newest first), and ``user.recent_<property>`` for any
item property: the values that property has on the user's latest items
(``user.recent_categories``, ``user.recent_brand``). ``context.<property>`` reads the
item the list is shown beside (a product page's product), missing when there is none.

Examples
--------
>>> import numpy as np
>>> from pulserec.control.properties import Properties
>>> from pulserec.types import Item
>>> props = Properties()
>>> props.set(np.arange(3), [Item("a", attributes={"price": 5}),
...                          Item("b", attributes={"price": 50}), Item("c")])
>>> f = compile_expression("item.price < 10 or not item.price > 0", props, "filter")
>>> f(Env(props)).tolist()
[True, False, True]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from pulserec.control.properties import Column, Properties, parse_datetime
from pulserec.control.syntax import (
    Binary,
    ExpressionError,
    Field,
    ListOf,
    Node,
    Now,
    Unary,
    parse,
)
from pulserec.control.syntax import (
    Literal as Lit,
)

Purpose = Literal["filter", "boost"]


@dataclass(frozen=True)
class UserView:
    """What an expression may read of the user a list is for (item indices)."""

    user_id: str = ""
    recent: Sequence[int] = ()
    """The user's latest positive items, newest first."""
    seen: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass
class Env:
    """What a compiled expression is evaluated against.

    ``rows``: the item indices to evaluate (None: the whole catalog); ``now``: the time
    ``now()`` returns (default: the clock).
    """

    props: Properties
    rows: np.ndarray | None = None
    now: float | None = None
    user: UserView = field(default_factory=UserView)
    context: int | None = None
    """The index of the item the list is shown beside, if any."""

    @property
    def size(self) -> int:
        return self.props.n if self.rows is None else len(self.rows)

    def clock(self) -> float:
        return time.time() if self.now is None else self.now


Fn = Callable[[Env], Any]


@dataclass(frozen=True)
class Typed:
    """A compiled sub-expression: its type, whether it differs per item, its function.

    Types: number, datetime, bool, string, id (the item's id), numbers, strings (a list
    of values), items (a user's list of item indices), list (an item's list property).
    """

    kind: str
    per_item: bool
    fn: Fn


@dataclass(frozen=True)
class Compiled:
    """A compiled expression: call it with an :class:`Env` for one value per row (a bool
    mask for a filter, float scores for a boost)."""

    text: str
    purpose: Purpose
    reads_user: bool
    reads_clock: bool
    fn: Fn
    reads_context: bool = False

    @property
    def static(self) -> bool:
        """Whether the result depends on the items alone (so it may be cached)."""
        return not (self.reads_user or self.reads_clock or self.reads_context)

    def __call__(self, env: Env) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = self.fn(env)
        if self.purpose == "filter":
            return np.broadcast_to(_truth(out), (env.size,)).copy()
        values = np.broadcast_to(np.asarray(out, dtype=np.float64), (env.size,))
        return np.where(np.isnan(values), 0.0, values)


def compile_expression(text: str, props: Properties, purpose: Purpose) -> Compiled:
    """Parse and type-check ``text`` against the catalog's properties.

    A filter must be a condition (true or false per item); a boost a number (a condition
    counts 1 where true). Raises :class:`ExpressionError` naming the position.
    """
    compiler = _Compiler(text, props)
    typed = compiler.compile(parse(text))
    if purpose == "filter" and typed.kind != "bool":
        raise ExpressionError(
            f"a filter must be a condition (true or false), not a {typed.kind}", 0
        )
    if purpose == "boost" and typed.kind not in ("number", "bool"):
        raise ExpressionError(f"a boost must be a number, not a {typed.kind}", 0)
    fn = typed.fn
    if purpose == "boost" and typed.kind == "bool":
        inner = fn
        fn = lambda env: _truth(inner(env)).astype(np.float64)  # noqa: E731
    return Compiled(
        text, purpose, compiler.reads_user, compiler.reads_clock, fn, compiler.reads_context
    )


NUMERIC = ("number", "datetime", "bool")


def _truth(value: Any) -> Any:
    """A condition's value: a bool column's missing values are false."""
    if isinstance(value, np.ndarray):
        return value if value.dtype == bool else value == 1.0
    return bool(value)


def isin_numbers(values: Any, wanted: list[float]) -> Any:
    """``np.isin`` for a few numbers: one comparison pass each rather than a sort."""
    if len(wanted) > 16:
        return np.isin(values, wanted)
    found = np.zeros(np.shape(values), dtype=bool)
    for w in wanted:
        found |= values == w
    return found if np.ndim(found) else bool(found)


def _column(name: str) -> Fn:
    def read(env: Env) -> np.ndarray:
        values = env.props.column(name).values
        return values[: env.props.n] if env.rows is None else values[env.rows]

    return read


class _Compiler:
    def __init__(self, text: str, props: Properties) -> None:
        self.text = text
        self.props = props
        self.reads_user = False
        self.reads_clock = False
        self.reads_context = False

    def error(self, message: str, node: Node) -> ExpressionError:
        return ExpressionError(message, node.pos, self.text)

    def compile(self, node: Node) -> Typed:
        if isinstance(node, Lit):
            value = node.value
            kind = (
                "bool"
                if isinstance(value, bool)
                else "string"
                if isinstance(value, str)
                else "number"
            )
            return Typed(kind, False, lambda env: value)
        if isinstance(node, Now):
            self.reads_clock = True
            return Typed("datetime", False, lambda env: env.clock())
        if isinstance(node, Field):
            return self.field(node)
        if isinstance(node, ListOf):
            return self.list_of(node)
        if isinstance(node, Unary):
            return self.unary(node)
        assert isinstance(node, Binary)
        if node.op in ("and", "or"):
            return self.logic(node)
        if node.op in ("in", "not in"):
            return self.membership(node)
        if node.op in ("+", "-", "*", "/"):
            return self.arithmetic(node)
        return self.comparison(node)

    # ------------------------------------------------------------------ values
    def field(self, node: Field) -> Typed:
        props = self.props
        if node.scope == "item":
            kind = props.kinds.get(node.name)
            if kind is None:
                known = ", ".join(sorted(props.kinds))
                raise self.error(f"unknown item property {node.name!r} (known: {known})", node)
            name = node.name
            if name == "id":
                return Typed("id", True, _column("id"))
            if kind == "strings":

                def column(env: Env) -> Column:
                    return env.props.column(name)

                return Typed("list", True, column)
            if kind == "string":
                return Typed("string", True, _column(name))
            return Typed(kind, True, _column(name))
        if node.scope == "context":
            return self.context_field(node)
        self.reads_user = True
        if node.name == "id":
            return Typed("string", False, lambda env: env.user.user_id)
        if node.name == "seen":
            return Typed("items", False, lambda env: np.asarray(env.user.seen, np.int64))
        if node.name == "recent_items":
            return Typed("items", False, lambda env: np.asarray(env.user.recent, np.int64))
        if node.name.startswith("recent_") and node.name[7:] in props.kinds:
            prop = node.name[7:]
            kind = props.kinds[prop]
            if kind == "bool":
                raise self.error(f"user.{node.name}: {prop!r} is a bool property", node)

            def recent(env: Env) -> list[Any]:
                out: dict[Any, None] = {}
                for idx in env.user.recent:
                    value = env.props.value(prop, int(idx))
                    for v in value if isinstance(value, list) else [value]:
                        if v is not None:
                            out[v] = None
                return list(out)

            many = "strings" if kind in ("string", "strings") else "numbers"
            return Typed(many, False, recent)
        raise self.error(
            f"unknown user field {node.name!r} (known: id, seen, recent_items and "
            "recent_<property> for an item property)",
            node,
        )

    def context_field(self, node: Field) -> Typed:
        """A property of the context item: one value (missing without a context item)."""
        kind = self.props.kinds.get(node.name)
        if kind is None:
            known = ", ".join(sorted(self.props.kinds))
            raise self.error(f"unknown item property {node.name!r} (known: {known})", node)
        self.reads_context = True
        name = node.name

        def value(env: Env) -> Any:
            found = None if env.context is None else env.props.value(name, env.context)
            if kind == "strings":
                return found or []
            if kind in NUMERIC:
                return np.nan if found is None else float(found)  # type: ignore[arg-type]
            return found  # a string, or None: equal and unequal to nothing

        return Typed(kind, False, value)

    def list_of(self, node: ListOf) -> Typed:
        parts = [self.compile(p) for p in node.items]
        kinds = {p.kind for p in parts}
        for p, sub in zip(parts, node.items, strict=True):
            if p.per_item:
                raise self.error("a list holds values, not item properties", sub)
        if kinds - {"string"} and kinds - {"number", "datetime"}:
            raise self.error("a list holds strings only or numbers only", node)
        fns = [p.fn for p in parts]
        kind = "strings" if kinds <= {"string"} else "numbers"
        return Typed(kind, False, lambda env: [f(env) for f in fns])

    def unary(self, node: Unary) -> Typed:
        operand = self.compile(node.operand)
        fn = operand.fn
        if node.op == "not":
            self.need_condition(operand, node.operand)
            return Typed("bool", operand.per_item, lambda env: np.logical_not(_truth(fn(env))))
        if operand.kind not in ("number", "bool"):
            raise self.error(f"cannot negate a {operand.kind}", node)
        return Typed("number", operand.per_item, lambda env: -np.float64(fn(env)))

    def need_condition(self, typed: Typed, node: Node) -> None:
        if typed.kind != "bool":
            raise self.error(f"expected a condition (true or false), not a {typed.kind}", node)

    # --------------------------------------------------------------- operators
    def logic(self, node: Binary) -> Typed:
        left, right = self.compile(node.left), self.compile(node.right)
        self.need_condition(left, node.left)
        self.need_condition(right, node.right)
        lf, rf = left.fn, right.fn
        op = np.logical_and if node.op == "and" else np.logical_or
        return Typed(
            "bool",
            left.per_item or right.per_item,
            lambda env: op(_truth(lf(env)), _truth(rf(env))),
        )

    def arithmetic(self, node: Binary) -> Typed:
        left, right = self.compile(node.left), self.compile(node.right)
        for side, sub in ((left, node.left), (right, node.right)):
            if side.kind not in NUMERIC:
                raise self.error(f"cannot do arithmetic with a {side.kind}", sub)
        lk = "number" if left.kind == "bool" else left.kind
        rk = "number" if right.kind == "bool" else right.kind
        op = node.op
        if op in ("*", "/") and "datetime" in (lk, rk):
            raise self.error(f"cannot use {op!r} with a datetime", node)
        if op == "+" and lk == rk == "datetime":
            raise self.error("cannot add two datetimes", node)
        if op == "-" and lk == "number" and rk == "datetime":
            raise self.error("cannot subtract a datetime from a number", node)
        kind = (
            "number"
            if lk == rk == "datetime"
            else ("datetime" if "datetime" in (lk, rk) else "number")
        )
        lf, rf = left.fn, right.fn
        ufunc = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[op]

        def apply(env: Env) -> Any:
            return ufunc(np.float64(lf(env)), np.float64(rf(env)))

        return Typed(kind, left.per_item or right.per_item, apply)

    def comparison(self, node: Binary) -> Typed:
        left, right = self.compile(node.left), self.compile(node.right)
        if left.kind == "datetime":
            right = self.as_datetime(right, left, node.right)
        elif right.kind == "datetime":
            left = self.as_datetime(left, right, node.left)
        op = node.op
        per_item = left.per_item or right.per_item
        lk, rk = left.kind, right.kind
        if lk in NUMERIC and rk in NUMERIC and (lk == rk or "number" in (lk, rk)):
            if op not in ("==", "!=") and "bool" in (lk, rk):
                raise self.error("cannot order bools; compare them with == or !=", node)
            ufunc = {
                "==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
                ">": np.greater, ">=": np.greater_equal,
            }[op]  # fmt: skip
            lf, rf = left.fn, right.fn

            def numeric(env: Env) -> Any:
                a, b = np.float64(lf(env)), np.float64(rf(env))
                out = ufunc(a, b)
                if op == "!=":  # a missing value is never different either
                    out = out & ~np.isnan(a) & ~np.isnan(b)
                return out

            return Typed("bool", per_item, numeric)
        strings = ("string", "id")
        if lk in strings and rk in strings:
            if op not in ("==", "!="):
                raise self.error("strings compare with == or != only", node)
            if left.per_item and right.per_item:
                raise self.error("cannot compare two item properties that are strings", node)
            vec, other = (left, right) if left.per_item else (right, left)
            if not vec.per_item:
                lf, rf = left.fn, right.fn

                def scalars(env: Env) -> bool:
                    a, b = lf(env), rf(env)
                    return a is not None and b is not None and (a == b) == (op == "==")

                return Typed("bool", False, scalars)
            name = self.column_name(node.left if left.per_item else node.right)
            vf, of = vec.fn, other.fn

            def codes(env: Env) -> Any:
                values = vf(env)
                other = of(env)
                if other is None:  # a missing value (no context item): no item matches
                    return np.zeros(len(values), dtype=bool)
                code = env.props.column(name).code(other)
                return values == code if op == "==" else (values >= 0) & (values != code)

            return Typed("bool", True, codes)
        raise self.error(f"cannot compare a {lk} with a {rk}", node)

    def as_datetime(self, typed: Typed, other: Typed, side: Node) -> Typed:
        """A string literal compared with a datetime is read as one."""
        if typed.kind != "string" or typed.per_item or other.kind != "datetime":
            return typed
        if not (isinstance(side, Lit) and isinstance(side.value, str)):
            return typed
        try:
            seconds = parse_datetime(side.value)
        except ValueError as exc:
            raise self.error(str(exc), side) from None
        if seconds is None:
            raise self.error(f"not a date or datetime: {side.value!r}", side)
        return Typed("datetime", False, lambda env: seconds)

    def column_name(self, node: Node) -> str:
        assert isinstance(node, Field)
        return node.name

    def membership(self, node: Binary) -> Typed:
        left, right = self.compile(node.left), self.compile(node.right)
        negate = node.op == "not in"
        lf, rf = left.fn, right.fn
        lk, rk = left.kind, right.kind
        per_item = left.per_item or right.per_item
        fn: Fn
        if rk == "items":
            if lk == "id":

                def by_index(env: Env) -> Any:
                    found = np.zeros(env.props.n, dtype=bool)
                    idx = rf(env)
                    found[idx[(idx >= 0) & (idx < env.props.n)]] = True
                    return found if env.rows is None else found[env.rows]

                fn = by_index
            elif lk == "string" and not left.per_item:

                def one_id(env: Env) -> Any:
                    code = env.props.column("id").code(lf(env))
                    ids = env.props.column("id").values
                    return bool(np.isin(rf(env), np.flatnonzero(ids[: env.props.n] == code)).any())

                fn = one_id
            else:
                raise self.error(f"a list of items holds item ids, not a {lk}", node.left)
        elif rk == "list":
            if left.per_item or lk != "string":
                raise self.error(
                    "a list property holds strings: test one string value with 'in'", node.left
                )

            def contains(env: Env) -> Any:
                found = rf(env).contains([lf(env)])
                return found[: env.props.n] if env.rows is None else found[env.rows]

            fn = contains
        elif rk in ("strings", "numbers"):
            if right.per_item:  # pragma: no cover - lists of values are never per item
                raise self.error("expected a list of values", node.right)
            if rk == "strings" and lk in ("string", "id"):
                if left.per_item:
                    name = self.column_name(node.left)

                    def isin_codes(env: Env) -> Any:
                        col = env.props.column(name)
                        # a lookup table over the codes: one gather, where np.isin sorts
                        table = np.zeros(len(col.vocab) + 1, dtype=bool)  # last: missing
                        codes = [c for c in (col.code(v) for v in rf(env)) if c >= 0]
                        table[codes] = True
                        return table[lf(env)]

                    fn = isin_codes
                else:
                    fn = lambda env: lf(env) in rf(env)  # noqa: E731
            elif rk == "numbers" and lk in ("number", "datetime"):
                fn = lambda env: isin_numbers(np.float64(lf(env)), rf(env))  # noqa: E731
            else:
                raise self.error(f"cannot look for a {lk} in a list of {rk}", node)
        else:
            raise self.error(f"'in' needs a list on its right, not a {rk}", node.right)
        if not negate:
            return Typed("bool", per_item, fn)
        inner = fn
        # not in: false for a missing value too (any test with a missing value is)
        if lk in ("number", "datetime") and left.per_item:
            return Typed(
                "bool", True,
                lambda env: ~inner(env) & ~np.isnan(np.float64(lf(env))),
            )  # fmt: skip
        if lk == "string" and left.per_item:
            return Typed("bool", True, lambda env: ~inner(env) & (lf(env) >= 0))
        return Typed("bool", per_item, lambda env: np.logical_not(inner(env)))
