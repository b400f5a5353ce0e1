"""Comparisons of the ``--where`` evaluator, with Python's exact meaning.

Chains are Python's (``a < b < c`` is ``a < b and b < c``, ``in`` included), and numpy compares an int64 with a float64 after rounding the integer to a float
(``2**53 + 1 == 2.0**53`` is true there); Python compares the exact values. These
helpers settle the ties of the rounded comparison on the integers, so that
``==``, ``<``... and ``in`` agree with Python for every int64 and float64.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import numpy as np

COMPARE: dict[type, Callable[[object, object], object]] = {
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}

#: comparisons that are not allowed, by name
SYMBOLS = {ast.Is: "is", ast.IsNot: "is not"}
_SWAPPED = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE, ast.Eq: ast.Eq, ast.NotEq: ast.NotEq}
_TWO63 = 2.0**63


def exact_compare(op: type, x: object, y: object) -> object:
    """``x op y`` with Python's exact meaning when an integer meets a float.

    numpy compares int64 with float64 after rounding the integer to a float, so that
    2**53 + 1 == 2.0**53; Python compares the exact values. Ties of the rounded
    comparison are settled on the integers.
    """
    a, b = np.asarray(x), np.asarray(y)
    if a.dtype.kind in "iu" and b.dtype.kind == "f":
        return _int_vs_float(op, a, b)
    if a.dtype.kind == "f" and b.dtype.kind in "iu":
        return _int_vs_float(_SWAPPED[op], b, a)
    return COMPARE[op](a, b)


def _int_vs_float(op: type, i: np.ndarray, f: np.ndarray) -> object:
    i = i.astype(np.int64, copy=False)
    rounded = COMPARE[op](i.astype(np.float64), f)
    tie = i.astype(np.float64) == f  # only where f is a whole number in [-2**63, 2**63]
    if not np.any(tie):
        return rounded
    beyond = f >= _TWO63  # every int64 is below it
    whole = np.where(tie & ~beyond, f, 0.0).astype(np.int64)
    sign = np.where(i > whole, 1, np.where(i < whole, -1, 0))
    sign = np.where(beyond, -1, sign)
    return np.where(tie, COMPARE[op](sign, 0), rounded)


def isin(x: object, values: list[object], invert: bool) -> object:
    """``x in values`` (``not in``: ``invert``), each element compared exactly as ``==`` does."""
    out: object = np.False_
    for v in values:
        out = np.logical_or(out, exact_compare(ast.Eq, x, v))
    return np.logical_not(out) if invert else out


def compile_compare(c: Any, node: ast.Compare) -> tuple[str, Callable[[Any], object]]:
    """A comparison chain with Python's meaning: ``a < b < c`` is ``a < b and b < c``.

    The right side of ``in`` is a list of literals, so a chain that goes on after it
    compares that list: ``x in (1, 2) == 1`` is ``x in (1, 2) and (1, 2) == 1``, whose
    second link is always False (``!=``: True; ``in`` a list of numbers: False);
    ordering a list against a number is refused, as Python would fail on it.
    """
    nodes = [node.left, *node.comparators]
    operands: list[tuple[str, object]] = []  # ('set', values) or (kind, fn)
    for i, operand in enumerate(nodes):
        after_in = i > 0 and type(node.ops[i - 1]) in (ast.In, ast.NotIn)
        operands.append(("set", literal_set(c, operand)) if after_in else c.value(operand))
    tests: list[Callable[[Any], object]] = []
    for i, op in enumerate(node.ops):
        t = type(op)
        (lk, left), (rk, right) = operands[i], operands[i + 1]
        if t in (ast.In, ast.NotIn):
            if lk == "set":
                if isinstance(nodes[i + 1], ast.Set) and not isinstance(nodes[i], ast.Tuple):
                    raise c.fail(nodes[i], "a list or set cannot be looked up in a set")
                const = np.bool_(t is ast.NotIn)  # a list is never one of the numbers
                tests.append(lambda get, k=const: k)
                continue
            tests.append(lambda get, f=left, v=right, inv=t is ast.NotIn: isin(f(get), v, inv))  # type: ignore[misc,operator]
            continue
        if t not in COMPARE:
            raise c.fail(node, f"comparison '{SYMBOLS.get(t, t.__name__)}' is not allowed (use == or !=)")
        if lk == "set":
            if t not in (ast.Eq, ast.NotEq):
                raise c.fail(nodes[i], "a list of numbers cannot be ordered against a number")
            const = np.bool_(t is ast.NotEq)  # a list never equals a number
            tests.append(lambda get, k=const: k)
            continue
        tests.append(lambda get, f=left, g=right, o=t: exact_compare(o, f(get), g(get)))  # type: ignore[misc,operator]

    def run(get: Any) -> object:
        out = tests[0](get)
        for test in tests[1:]:
            out = np.logical_and(out, test(get))
        return out

    return "bool", run


def literal_set(c: Any, node: ast.AST) -> list[object]:
    """The right side of ``in``: a tuple, list or set of number literals (as numpy scalars)."""
    if not isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        raise c.fail(node, "'in' needs a list of numbers, e.g. ifu in (5, 6, 7)")
    values = []
    for elt in node.elts:
        if any(isinstance(n, ast.Name) for n in ast.walk(elt)):
            raise c.fail(elt, "'in' needs number literals, not names")
        _, fn = c.value(elt)
        with np.errstate(all="ignore"):  # 1//0 is 0 here as anywhere, silently
            values.append(fn(lambda name: np.empty(0)))
    if not values:
        raise c.fail(node, "'in' needs at least one number")
    return values
