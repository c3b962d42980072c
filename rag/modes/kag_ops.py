"""The Python half of KAG: counting, comparing and arithmetic over step results.

The expressions come from a language model, so arithmetic is checked as it goes: a division by
zero, a result too large for a float, an exponent beyond MAX_EXPONENT or an expression nested
too deep is an OpError, which the KAG executor records as a failed step in the trace.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Sequence

_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*(?:\.\d+)?")
_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}  # fmt: skip
# far beyond any exponent a question needs (squares, compound interest over a century), and
# small enough that no power is slow or silently huge
MAX_EXPONENT = 1000
MAX_EXPRESSION = 500  # characters after #n are replaced; a plan's arithmetic is one line


class OpError(ValueError):
    pass


def first_number(text: str) -> float:
    m = _NUMBER.search(text.replace("，", ","))
    if not m:
        raise OpError(f"no number in {text!r}")
    value = float(m.group().replace(",", ""))
    if not math.isfinite(value):
        raise OpError(f"the number in {text[:40]!r} is too large")
    return value


def items(text: str) -> list[str]:
    """A result listing several things: split on commas, 、, semicolons, "and", new lines."""
    parts = re.split(r"\s*(?:[,，、;；\n]|\band\b|和|与)\s*", text)
    return [p.strip(" .。") for p in parts if p.strip(" .。")]


def count(results: Sequence[str]) -> int:
    return sum(len(items(r)) for r in results)


def compare(how: str, results: Sequence[str]) -> str:
    numbers = [first_number(r) for r in results]
    how = how.strip().lower() or "max"
    if how in ("max", "min"):
        pick = max if how == "max" else min
        best = pick(range(len(numbers)), key=lambda i: numbers[i])
        return results[best]
    if len(numbers) != 2:
        raise OpError(f"'{how}' compares two numbers, got {len(numbers)}")
    a, b = numbers
    verdict = {"equal": a == b, "greater": a > b, "less": a < b}.get(how)
    if verdict is None:
        raise OpError(f"unknown comparison {how!r} (max, min, equal, greater, less)")
    return "yes" if verdict else "no"


def compute(expression: str, results: Sequence[str]) -> float:
    """Evaluate arithmetic where #n is the first number in step n's result (no names, no calls)."""

    def number(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if not 1 <= n <= len(results):
            raise OpError(f"#{n} does not refer to an earlier step")
        return repr(first_number(results[n - 1]))

    source = re.sub(r"#(\d+)", number, expression)
    if len(source) > MAX_EXPRESSION:
        raise OpError(f"expression is longer than {MAX_EXPRESSION} characters")
    try:
        return _eval(ast.parse(source, mode="eval").body)
    except SyntaxError as e:  # also a literal too long for int(): Python refuses to parse it
        raise OpError(f"cannot parse {expression!r}") from e
    except RecursionError as e:
        raise OpError(f"{expression!r} is nested too deeply") from e


def _eval(node: ast.expr) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return _finite(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise OpError("division by zero")
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise OpError(f"exponent {right:g} is beyond ±{MAX_EXPONENT}")
        try:
            value = _BINARY[type(node.op)](left, right)
        except OverflowError as e:
            raise OpError("result is too large") from e
        if isinstance(value, complex):  # a fractional power of a negative number
            raise OpError(f"({left:g}) ** {right:g} is not a real number")
        return _finite(value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand)
    raise OpError("only numbers and + - * / ** are allowed")


def _finite(value: float) -> float:
    """`value` as a float; inf or nan means the arithmetic left the range of real results."""
    try:
        out = float(value)
    except OverflowError as e:  # an int literal beyond float range
        raise OpError("number is too large") from e
    if not math.isfinite(out):
        raise OpError("result is too large")
    return out
