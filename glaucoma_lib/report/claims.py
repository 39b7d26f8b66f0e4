"""The paper's named results and the conditions its sentences carry.

The paper's Markdown source quotes results by name (``{{signal.airogs.cnn_disc}}``) and follows
each sentence whose truth depends on a result with a condition
(``<!-- check: above(signal.airogs.cnn_disc, signal.airogs.cnn_off) -->``). Names are looked
up in the build's values (glaucoma_lib.report.values); a condition is a small expression of
names, numbers, comparisons, and/or/not and the helpers below, evaluated without ``eval``.
"""

from __future__ import annotations

import ast
import math
import operator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% interval (an AUC and its bootstrap interval)."""

    value: float
    low: float
    high: float

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        return f"{self.value:{spec}} ({self.low:{spec}}–{self.high:{spec}})"


class Missing(LookupError):
    """The source names a value this build did not record."""


def from_json(tree: Any) -> Any:
    """Values as stored in JSON, with {"value", "low", "high"} dicts turned into Estimates."""
    if isinstance(tree, dict):
        if set(tree) == {"value", "low", "high"}:
            return Estimate(*(float(tree[k]) for k in ("value", "low", "high")))
        return {k: from_json(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [from_json(v) for v in tree]
    return tree


def lookup(values: dict, dotted: str) -> Any:
    """``values["a"]["b"]`` for "a.b", or an Estimate's field ("x.low"); Missing otherwise."""
    node: Any = values
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, Estimate) and part in ("value", "low", "high"):
            node = getattr(node, part)
        else:
            raise Missing(dotted)
    return node


def show(value: Any, spec: str = "") -> str:
    """A value as the paper prints it: estimates as "0.869 (0.842–0.895)", fractions with a
    format spec (":.1%"), integers as integers, other numbers with three decimals."""
    if isinstance(value, Estimate):
        return format(value, spec)
    if isinstance(value, bool) or value is None:
        raise TypeError(f"{value!r} is not a number the paper can print")
    if isinstance(value, int):
        return format(value, spec or ",d")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a non-finite value cannot be printed")
        return format(value, spec or ".3f")
    if isinstance(value, str) and not spec:
        return value
    raise TypeError(f"{value!r} is not a value the paper can print")


def _interval(x: Any) -> Estimate:
    if not isinstance(x, Estimate):
        raise TypeError(f"{x!r} has no interval")
    return x


def chance(x: Estimate) -> bool:
    """The 95% interval contains 0.5: no evidence of separation."""
    x = _interval(x)
    return x.low <= 0.5 <= x.high


def above(a: Estimate, b: Estimate | float) -> bool:
    """a is higher than b by more than the intervals: a's interval lies above b's (or above
    the number b)."""
    a = _interval(a)
    return a.low > (b.high if isinstance(b, Estimate) else b)


def overlap(a: Estimate, b: Estimate) -> bool:
    """The two intervals share a point: the data do not tell them apart."""
    a, b = _interval(a), _interval(b)
    return a.low <= b.high and b.low <= a.high


def value(x: Estimate | float) -> float:
    return x.value if isinstance(x, Estimate) else x


HELPERS = {"chance": chance, "above": above, "overlap": overlap, "value": value,
           "abs": abs, "min": min, "max": max, "all": all, "any": any}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
            ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
          ast.Div: operator.truediv}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    raise SyntaxError(f"not a name: {ast.unparse(node)}")


def evaluate(expression: str, values: dict) -> Any:
    """The value of a condition; names resolve in ``values`` (Missing if absent)."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str):
            return node.value  # a string names a thing shown, e.g. the image of a figure
        if isinstance(node, ast.Name | ast.Attribute):
            return lookup(values, _dotted(node))
        if isinstance(node, ast.BoolOp):
            results = [bool(ev(v)) for v in node.values]
            return all(results) if isinstance(node.op, ast.And) else any(results)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not ev(node.operand)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
            return _ARITH[type(node.op)](value(ev(node.left)), value(ev(node.right)))
        if isinstance(node, ast.Compare):
            left = value(ev(node.left))
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = value(ev(right_node))
                if type(op) not in _COMPARE or not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in HELPERS and not node.keywords:
            return HELPERS[node.func.id](*(ev(a) for a in node.args))
        if isinstance(node, ast.List | ast.Tuple):
            return [ev(e) for e in node.elts]
        raise SyntaxError(f"not allowed in a condition: {ast.unparse(node)}")

    return ev(ast.parse(expression.strip(), mode="eval"))
