"""Row-filter expressions: Python syntax, parsed into a whitelisted tree, evaluated with numpy.

``dq == 0 and data > 3 * sqrt(stat)`` is parsed with :mod:`ast` (never
``eval``); every node of the tree must be on a whitelist: names of the
pixel-table vocabulary (:data:`NAMES`), int/float/bool literals (hex too),
arithmetic, bitwise and comparison operators (chained too), ``in``/``not in``
a tuple of literals, ``and``/``or``/``not`` and the functions in
:data:`FUNCTIONS`. Anything else (attributes, subscripts, other calls,
lambdas, comprehensions, strings...) is an :class:`ExpressionError` that
points at the offending part.

Types are checked while parsing, so that a bitwise operator on a float is a
parse error, not a failure half-way through a table. Evaluation is in 64 bits:
float names as float64, integer names as int64, ``dq`` read as the unsigned
32-bit mask it is (0..4294967295, so ``dq > 0`` catches bit 31). ``/`` and
``**`` always give floats; an integer ``//`` or ``%`` by zero gives 0; floating
errors give inf/nan silently. A number used as a condition is true when it is
non-zero, as in Python.

The module is pure: it knows the names, not where their values come from.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import CriteriaError
from .compare import compile_compare

#: table columns an expression may name, with their kind
COLUMNS = {
    "xpos": "float",
    "ypos": "float",
    "lambda": "float",
    "data": "float",
    "dq": "int",
    "stat": "float",
    "weight": "float",
    "origin": "int",
}
#: fields decoded from ``origin`` (and the row's exposure)
DECODED = {"ifu": "int", "slice": "int", "xpix": "int", "ypix": "int", "exp": "int"}
#: absolute sky position in degrees
SKY = {"ra": "float", "dec": "float"}
#: the row's 0-based index in the table
ROW = {"row": "int"}
NAMES: dict[str, str] = {**COLUMNS, **DECODED, **SKY, **ROW}
#: names whose int32 values are unsigned bit masks
UNSIGNED32 = frozenset({"dq"})

#: callable functions: numpy function, result kind ('same': the argument's)
FUNCTIONS: dict[str, tuple[Callable[[object], object], str]] = {
    "abs": (np.abs, "same"),
    "sqrt": (np.sqrt, "float"),
    "log10": (np.log10, "float"),
    "isfinite": (np.isfinite, "bool"),
    "isnan": (np.isnan, "bool"),
}

_ARITH: dict[type, Callable[[object, object], object]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.remainder,
    ast.Pow: np.power,
}
_BITWISE: dict[type, Callable[[object, object], object]] = {
    ast.BitAnd: np.bitwise_and,
    ast.BitOr: np.bitwise_or,
    ast.BitXor: np.bitwise_xor,
    ast.LShift: np.left_shift,
    ast.RShift: np.right_shift,
}
_SYMBOL = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
    ast.Invert: "~", ast.Is: "is", ast.IsNot: "is not", ast.MatMult: "@",
}  # fmt: skip
_INT64 = np.iinfo(np.int64)
_DTYPE = {"bool": np.bool_, "int": np.int64, "float": np.float64}

Values = Callable[[str], np.ndarray]
_Fn = Callable[[Values], object]


class ExpressionError(CriteriaError):
    """An expression that cannot be accepted; ``start:end`` (characters) is the offending part."""

    def __init__(self, reason: str, text: str, start: int, end: int | None = None) -> None:
        self.reason, self.text = reason, text
        self.start = max(0, min(start, len(text)))
        self.end = max(self.start + 1, min(end if end is not None else self.start + 1, len(text) + 1))
        caret = " " * self.start + "^" * (self.end - self.start)
        super().__init__(f"{reason}\n    {text}\n    {caret}", field="where")


@dataclass(frozen=True)
class Expression:
    """A parsed, validated expression. :meth:`evaluate` gives one bool per row."""

    text: str
    #: the names it uses (from :data:`NAMES`)
    names: frozenset[str]
    kind: str  # 'bool', 'int' or 'float': the type of the whole expression
    _fn: _Fn = field(repr=False, compare=False)

    def evaluate(self, values: Values | Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """Bool mask of ``n`` rows; ``values(name)`` gives a name's ``n`` values (any numeric dtype).

        Each name is fetched once. No floating-point warning escapes.
        """
        get = values.__getitem__ if isinstance(values, Mapping) else values
        cache: dict[str, np.ndarray] = {}

        def fetch(name: str) -> np.ndarray:
            if name not in cache:
                cache[name] = _as_kind(name, np.asarray(get(name)))
            return cache[name]

        with np.errstate(all="ignore"):
            out = self._fn(fetch)
            if np.ndim(out) == 0:
                return np.full(n, bool(out))
            return out if out.dtype == np.bool_ else out != 0  # type: ignore[union-attr]


def _as_kind(name: str, a: np.ndarray) -> np.ndarray:
    """A name's values in the evaluation type: float64, or int64 (dq through uint32)."""
    if NAMES[name] == "float":
        return a.astype(np.float64, copy=False)
    if name in UNSIGNED32 and a.dtype.itemsize == 4 and a.dtype.kind in "iu":
        a = a.view(np.uint32)
    return a.astype(np.int64, copy=False)


_LAMBDA = re.compile(r"\blambda\b")
_PLACEHOLDER = "lambda_"


def parse(text: str) -> Expression:
    """Parse and validate ``text``; raise :class:`ExpressionError` showing the offending part."""
    if not text.strip():
        raise ExpressionError("empty expression", text, 0, len(text))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # bytes of another encoding, read from the command line
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise ExpressionError(f"the expression is not UTF-8 text (byte 0x{ord(text[exc.start]) & 0xFF:02x})", shown,
                              exc.start, exc.end) from None
    shown = re.sub(r"\s", " ", text)  # one line: positions are columns
    # 'lambda' is a Python keyword: read it as a placeholder name, remembering where it was.
    spots = [m.start() for m in _LAMBDA.finditer(shown)]
    source = _LAMBDA.sub(_PLACEHOLDER, shown)
    c = _Compiler(shown, source, spots)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        pos = c.back(exc.offset - 1 if exc.offset and 0 < exc.offset <= len(source) else len(source), chars=True)
        end = c.back(exc.end_offset - 1, chars=True) if exc.end_offset and exc.end_offset > (exc.offset or 0) else None
        hint = " (compare with ==)" if re.search(r"(?<![=!<>])=(?!=)", shown) else ""
        raise ExpressionError(f"syntax error: {exc.msg}{hint}", shown, pos, end) from None
    except (ValueError, MemoryError, RecursionError) as exc:  # null bytes, absurd nesting
        raise ExpressionError(f"cannot parse: {exc}", shown, 0, len(shown)) from None
    try:
        kind, fn = c.compile(tree.body)
    except RecursionError:
        raise ExpressionError("expression nested too deeply", shown, 0, len(shown)) from None
    return Expression(text, frozenset(c.names), kind, fn)


class _Compiler:
    """Checks each node against the whitelist and turns it into a closure over numpy."""

    def __init__(self, shown: str, source: str, spots: list[int]) -> None:
        self.shown, self.source, self.spots = shown, source, spots
        self.encoded = source.encode("utf-8")
        self.names: set[str] = set()

    # -- positions ------------------------------------------------------------

    def back(self, pos: int, chars: bool = False) -> int:
        """Column in the text as typed of a position in the parsed source (UTF-8 bytes unless ``chars``)."""
        if not chars:
            pos = len(self.encoded[:pos].decode("utf-8", errors="replace"))
        shift = len(_PLACEHOLDER) - len("lambda")
        k = sum(1 for i, s in enumerate(self.spots) if s + shift * i < pos)
        return max(0, pos - shift * k)

    def fail(self, node: ast.AST, reason: str) -> ExpressionError:
        start = self.back(getattr(node, "col_offset", 0))
        end = self.back(getattr(node, "end_col_offset", None) or getattr(node, "col_offset", 0) + 1)
        return ExpressionError(reason, self.shown, start, end)

    def part(self, node: ast.AST) -> str:
        start, end = self.back(node.col_offset), self.back(node.end_col_offset or node.col_offset)  # type: ignore[attr-defined]
        return self.shown[start:end]

    def is_lambda(self, node: ast.Name) -> bool:
        return node.id == _PLACEHOLDER and self.back(node.col_offset) in self.spots

    # -- nodes ----------------------------------------------------------------

    def compile(self, node: ast.AST) -> tuple[str, _Fn]:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"{_describe(node)} is not allowed in an expression")
        return method(node)

    def _Name(self, node: ast.Name) -> tuple[str, _Fn]:
        name = "lambda" if self.is_lambda(node) else node.id
        if name in FUNCTIONS:
            raise self.fail(node, f"'{name}' is a function: call it, e.g. {name}(data)")
        if name not in NAMES:
            close = difflib.get_close_matches(name.lower(), list(NAMES), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise self.fail(node, f"unknown name '{name}' ({hint}names: {', '.join(NAMES)})")
        self.names.add(name)
        return NAMES[name], lambda get: get(name)

    def _Constant(self, node: ast.Constant) -> tuple[str, _Fn]:
        v = node.value
        if isinstance(v, bool):
            b = np.bool_(v)
            return "bool", lambda get: b
        if isinstance(v, int):
            if not _INT64.min <= v <= _INT64.max:
                raise self.fail(node, f"integer {self.part(node)} does not fit in 64 bits")
            i = np.int64(v)
            return "int", lambda get: i
        if isinstance(v, float):
            f = np.float64(v)
            return "float", lambda get: f
        raise self.fail(node, f"{type(v).__name__} literal {self.part(node)} is not allowed (numbers only)")

    def _UnaryOp(self, node: ast.UnaryOp) -> tuple[str, _Fn]:
        if isinstance(node.op, ast.Not):
            t = _truth(*self.compile(node.operand))
            return "bool", lambda get: np.logical_not(t(get))
        kind, fn = self.value(node.operand)
        if isinstance(node.op, ast.Invert):
            if kind == "float":
                raise self.fail(node, "~ needs an integer or a condition, not a float")
            if kind == "bool":  # Python: ~True is -2, not False
                kind, fn = "int", _cast(fn, np.int64)
            return kind, lambda get: np.invert(fn(get))
        if kind == "bool":
            kind, fn = "int", _cast(fn, np.int64)
        op = np.negative if isinstance(node.op, ast.USub) else np.positive
        return kind, lambda get: op(fn(get))

    def _BinOp(self, node: ast.BinOp) -> tuple[str, _Fn]:
        lk, lf = self.value(node.left)
        rk, rf = self.value(node.right)
        t = type(node.op)
        if t in _BITWISE:
            if "float" in (lk, rk):
                raise self.fail(node, f"{_SYMBOL[t]} needs integers or conditions, not floats")
            if lk == rk == "bool" and t in (ast.BitAnd, ast.BitOr, ast.BitXor):
                kind = "bool"
            else:
                kind, lf, rf = "int", _cast(lf, np.int64) if lk == "bool" else lf, _cast(rf, np.int64) if rk == "bool" else rf
            op = _BITWISE[t]
            return kind, lambda get: op(lf(get), rf(get))
        if t not in _ARITH:
            raise self.fail(node, f"operator {_SYMBOL.get(t, t.__name__)} is not allowed")
        if t in (ast.Div, ast.Pow) or "float" in (lk, rk):
            kind, cast = "float", np.float64
        else:
            kind, cast = "int", np.int64
        lf, rf = (_cast(lf, cast) if lk != kind else lf), (_cast(rf, cast) if rk != kind else rf)
        op = _ARITH[t]
        return kind, lambda get: op(lf(get), rf(get))

    def _BoolOp(self, node: ast.BoolOp) -> tuple[str, _Fn]:
        """``and``/``or`` give one of their operands, as in Python: ``(0 or 3) + 1`` is 4.

        Conditions give a condition; numbers of one kind give that kind. Operands of
        mixed kinds give a value of either type in Python: usable as a condition only.
        """
        compiled = [self.compile(v) for v in node.values]
        kinds = {k for k, _ in compiled}
        is_and = isinstance(node.op, ast.And)
        if len(kinds) == 1 and kinds <= {"int", "float"}:
            fns = [fn for _, fn in compiled]

            def pick(get: Values) -> object:
                out = fns[0](get)
                for f in fns[1:]:  # and: the first false operand, else the last; or: the first true one
                    nxt = f(get)
                    out = np.where((out != 0) == is_and, nxt, out)
                return out

            return kinds.pop(), pick
        parts = [_truth(*c) for c in compiled]
        op = np.logical_and if is_and else np.logical_or

        def run(get: Values) -> object:
            out = parts[0](get)
            for p in parts[1:]:
                out = op(out, p(get))
            return out

        return ("bool" if kinds == {"bool"} else "cond"), run

    def value(self, node: ast.AST) -> tuple[str, _Fn]:
        """Compile an operand of an operator, comparison or function: a number or a condition."""
        kind, fn = self.compile(node)
        if kind == "cond":
            raise self.fail(node, "and/or of values of different types can only be a condition here "
                                  "(in Python its value would be either operand)")
        return kind, fn

    def _Compare(self, node: ast.Compare) -> tuple[str, _Fn]:
        return compile_compare(self, node)

    def _Call(self, node: ast.Call) -> tuple[str, _Fn]:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            what = self.part(func)
            raise self.fail(func, f"'{what}' cannot be called (functions: {', '.join(FUNCTIONS)})")
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise self.fail(node, f"{func.id}() takes exactly one argument")
        kind, fn = self.value(node.args[0])
        np_fn, result = FUNCTIONS[func.id]
        if kind == "bool":
            kind, fn = "int", _cast(fn, np.int64)
        out = kind if result == "same" else result
        if out == "float" and kind != "float":
            fn = _cast(fn, np.float64)
        return out, lambda get: np_fn(fn(get))


def _cast(fn: _Fn, dtype: type) -> _Fn:
    def run(get: Values) -> object:
        v = fn(get)
        return v.astype(dtype) if isinstance(v, np.ndarray) else dtype(v)  # type: ignore[operator]

    return run


def _truth(kind: str, fn: _Fn) -> _Fn:
    """A value as a condition: a bool as is, a number true when non-zero (Python's rule)."""
    if kind in ("bool", "cond"):
        return fn
    return lambda get: np.not_equal(fn(get), 0)


def _describe(node: ast.AST) -> str:
    names = {
        "Attribute": "attribute access",
        "Subscript": "indexing",
        "Lambda": "lambda",
        "ListComp": "a comprehension",
        "SetComp": "a comprehension",
        "DictComp": "a comprehension",
        "GeneratorExp": "a generator",
        "IfExp": "'x if c else y'",
        "NamedExpr": "assignment (:=)",
        "JoinedStr": "an f-string",
        "Starred": "unpacking (*)",
        "Await": "await",
        "Yield": "yield",
        "Tuple": "a tuple",
        "List": "a list",
        "Dict": "a dict",
        "Set": "a set",
        "Slice": "a slice",
    }
    return names.get(type(node).__name__, type(node).__name__)
