"""KAG arithmetic over step results: a language model writes the expressions, so every way
arithmetic can go wrong is an OpError (the executor records a failed step), never a
ZeroDivisionError or OverflowError escaping, and never a power that takes forever."""

from __future__ import annotations

import time

import pytest

from rag.modes.kag_ops import MAX_EXPONENT, OpError, compute, first_number


def test_plain_arithmetic_still_works() -> None:
    assert compute("#1 / #2", ["10 GB", "4 GB"]) == 2.5
    assert compute("2 ** 10 - -1", []) == 1025.0
    assert compute(f"2 ** -{MAX_EXPONENT}", []) == 2.0**-MAX_EXPONENT  # the limit is inclusive


@pytest.mark.parametrize(
    ("expression", "results", "message"),
    [
        ("#1 / #2", ["10 GB", "0 GB"], "division by zero"),
        ("1 / (2 - 2)", [], "division by zero"),
        ("10 ** 10000", [], f"exponent 10000 is beyond ±{MAX_EXPONENT}"),
        ("9 ** 9 ** 9", [], r"exponent 3\.8742e\+08 is beyond"),
        ("10 ** 400", [], "result is too large"),
        ("1e308 * 10", [], "result is too large"),
        ("1e308 + 1e308", [], "result is too large"),
        ("(-8) ** 0.5", [], r"\(-8\) \*\* 0.5 is not a real number"),
        ("1" * 400 + " + 1", [], "number is too large"),
        ("#1 + 1", ["1" * 400], "is too large"),
        ("(" * 300 + "1" + ")" * 300, [], "longer than|cannot parse|nested"),
    ],
)
def test_arithmetic_failures_are_op_errors(
    expression: str, results: list[str], message: str
) -> None:
    start = time.perf_counter()
    with pytest.raises(OpError, match=message):
        compute(expression, results)
    assert time.perf_counter() - start < 0.5


def test_first_number_rejects_a_number_beyond_float_range() -> None:
    assert first_number("about 1,234.5 tokens") == 1234.5
    with pytest.raises(OpError, match="too large"):
        first_number("9" * 400)
