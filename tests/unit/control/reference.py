"""A plain Python evaluator of the expression language, one item at a time: the oracle
the vectorised compiler is checked against."""

from __future__ import annotations

import math
from typing import Any

from pulserec.control.syntax import Binary, Field, ListOf, Literal, Node, Now, Unary


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def truth(value: Any) -> bool:
    return value is True


def evaluate(node: Node, item: dict[str, Any], user: dict[str, Any], now: float) -> Any:
    """The value of ``node`` for one item (``None``: missing)."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Now):
        return now
    if isinstance(node, Field):
        return (item if node.scope == "item" else user).get(node.name)
    if isinstance(node, ListOf):
        return [evaluate(p, item, user, now) for p in node.items]
    if isinstance(node, Unary):
        value = evaluate(node.operand, item, user, now)
        if node.op == "not":
            return not truth(value)
        return None if missing(value) else -float(value)
    assert isinstance(node, Binary)
    left = evaluate(node.left, item, user, now)
    right = evaluate(node.right, item, user, now)
    op = node.op
    if op == "and":
        return truth(left) and truth(right)
    if op == "or":
        return truth(left) or truth(right)
    if op in ("in", "not in"):
        if missing(left):
            return False
        return (left in right) == (op == "in")
    if missing(left) or missing(right):
        return None if op in "+-*/" else False
    if op in "+-*":
        a, b = float(left), float(right)
        return a + b if op == "+" else a - b if op == "-" else a * b
    if isinstance(left, bool) or isinstance(right, bool):
        left, right = float(left), float(right)
    return {
        "==": left == right, "!=": left != right, "<": left < right, "<=": left <= right,
        ">": left > right, ">=": left >= right,
    }[op]  # fmt: skip
