"""Operator control: typed item properties, and filter and boost expressions compiled
to vectorised masks and scores over the catalog."""

from pulserec.control.compile import Compiled, Env, UserView, compile_expression
from pulserec.control.expressions import Expressions
from pulserec.control.properties import BUILT_IN, Kind, Properties, PropertyError, kind_of
from pulserec.control.syntax import ExpressionError, parse

__all__ = [
    "BUILT_IN", "Compiled", "Env", "ExpressionError", "Expressions", "Kind", "Properties",
    "PropertyError", "UserView", "compile_expression", "kind_of", "parse",
]  # fmt: skip
