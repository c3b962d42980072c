"""The Python half of KAG: counting, comparing and arithmetic over step results."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Sequence

_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*(?:\.\d+)?")
_BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}  # fmt: skip


class OpError(ValueError):
    pass


def first_number(text: str) -> float:
    m = _NUMBER.search(text.replace("，", ","))
    if not m:
        raise OpError(f"no number in {text!r}")
    return float(m.group().replace(",", ""))


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
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        raise OpError(f"cannot parse {expression!r}") from e
    return _eval(tree.body)


def _eval(node: ast.expr) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return float(_BINARY[type(node.op)](_eval(node.left), _eval(node.right)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand)
    raise OpError("only numbers and + - * / ** are allowed")
