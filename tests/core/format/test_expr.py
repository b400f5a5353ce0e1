"""Row-filter expressions (core/format/expr.py): semantics, error positions, and two hypothesis
properties: random expressions over the grammar evaluate as a reference numpy evaluation does,
and no syntax outside the whitelist is ever accepted."""

from __future__ import annotations

import ast
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixtab.core.errors import CriteriaError
from pixtab.core.format.expr import FUNCTIONS, NAMES, ExpressionError, parse

N = 64
_rng = np.random.default_rng(17)
ENV = {
    "data": np.concatenate([[0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, -1.0, 3.5], _rng.normal(0, 5, N - 8)]).astype(np.float32),
    "stat": np.concatenate([[0.0, 1.0, -1.0, np.nan, 4.0, 0.25, 1e30, 2.0], _rng.uniform(0, 9, N - 8)]).astype(np.float32),
    "lambda": _rng.uniform(4750, 9350, N).astype(np.float32),
    "dq": np.array(([0, 0x4000, -(2**31), 0x20, 0x80000000 - 1, 0x40000000, 0, 5] * 8), dtype=np.int64).astype(np.int32),
    "ifu": _rng.integers(1, 25, N).astype(np.int16),
    "xpix": _rng.integers(1, 4097, N).astype(np.int16),
    "exp": _rng.integers(0, 4, N).astype(np.int16),
}
#: the values the reference evaluation uses: 64-bit, dq unsigned
REF = {k: (v.view(np.uint32).astype(np.int64) if k == "dq" else v.astype(np.float64 if v.dtype.kind == "f" else np.int64))
       for k, v in ENV.items()}  # fmt: skip


def run(text: str, env: dict | None = None) -> np.ndarray:
    return parse(text).evaluate(env or ENV, N)


# -- semantics ------------------------------------------------------------------


def test_dq_is_an_unsigned_mask() -> None:
    dq = ENV["dq"].view(np.uint32)
    assert np.array_equal(run("dq > 0"), dq > 0)  # the top bit counts
    assert np.array_equal(run("(dq & 0x80000000) != 0"), (dq & 0x80000000) != 0)
    assert np.array_equal(run("dq == 2147483648"), dq == 2**31)
    assert run("dq > 0").sum() > (ENV["dq"] > 0).sum()  # a signed test would miss rows


def test_issue_examples() -> None:
    d, s = REF["data"], REF["stat"]
    with np.errstate(all="ignore"):
        want = (REF["dq"] == 0) & (d > 3 * np.sqrt(s))
    assert np.array_equal(run("dq == 0 and data > 3 * sqrt(stat)"), want)
    assert np.array_equal(run("(dq & 0x4000) != 0"), (REF["dq"] & 0x4000) != 0)


@pytest.mark.parametrize(
    "text, ref",
    [
        ("6000 <= lambda < 8000", lambda r: (r["lambda"] >= 6000) & (r["lambda"] < 8000)),
        ("1 < ifu <= 12 != 5", lambda r: (r["ifu"] > 1) & (r["ifu"] <= 12) & (12 != 5)),
        ("dq & 4 == 0", lambda r: (r["dq"] & 4) == 0),  # Python precedence: & before ==
        ("not dq or ifu == 3", lambda r: (r["dq"] == 0) | (r["ifu"] == 3)),
        ("ifu in (5, 6, 7)", lambda r: np.isin(r["ifu"], [5, 6, 7])),
        ("ifu not in [5, 6]", lambda r: ~np.isin(r["ifu"], [5, 6])),
        ("dq >> 30", lambda r: (r["dq"] >> 30) != 0),  # a number as a condition: non-zero
        ("~dq & 1", lambda r: (~r["dq"] & 1) != 0),
        ("2 ** 3 == 8", lambda r: np.full(N, True)),
        ("7 // 2 == 3 and 7 % 2 == 1 and 7 / 2 == 3.5", lambda r: np.full(N, True)),
        ("abs(data) > 2", lambda r: np.abs(r["data"]) > 2),
        ("isfinite(data) and not isnan(stat)", lambda r: np.isfinite(r["data"]) & ~np.isnan(r["stat"])),
        ("lambda > 6e3", lambda r: r["lambda"] > 6000.0),
        ("True", lambda r: np.full(N, True)),
        ("-xpix < -100", lambda r: -r["xpix"] < -100),
        ("exp == 2 and xpix >= 0x100", lambda r: (r["exp"] == 2) & (r["xpix"] >= 256)),
    ],
)
def test_expressions(text: str, ref) -> None:
    with np.errstate(all="ignore"):
        want = ref(REF)
    assert np.array_equal(run(text), want), text


def test_float32_columns_compare_exactly() -> None:
    """Values are compared in float64: 6000.1 is not rounded to the float32 next to it."""
    lam = np.array([np.float32(6000.1), np.nextafter(np.float32(6000.1), np.float32(0))], dtype=np.float32)
    got = parse("lambda >= 6000.1").evaluate({"lambda": lam}, 2)
    assert got.tolist() == (lam.astype(np.float64) >= 6000.1).tolist()


def test_no_warning_on_division_by_zero_or_log_of_negatives() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run("data / 0 > 1 or log10(data) > 0 or sqrt(stat) > 1 or dq // 0 == 0 or dq % 0 == 1 or data ** 0.5 > 1")


def test_names_and_kind() -> None:
    e = parse("dq == 0 and lambda > 5000 and abs(ra - 10) < 1 and xpix > 3")
    assert e.names == {"dq", "lambda", "ra", "xpix"}
    assert e.kind == "bool" and parse("dq + 1").kind == "int" and parse("data * 2").kind == "float"


def test_each_name_is_read_once() -> None:
    seen: list[str] = []

    def values(name: str) -> np.ndarray:
        seen.append(name)
        return ENV[name]

    parse("data > 1 and data < 5 or data == 0").evaluate(values, N)
    assert seen == ["data"]


# -- errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, reason, part",
    [
        ("dq = 0", "syntax error", "="),
        ("foo > 1", "unknown name 'foo'", "foo"),
        ("DQ > 0", "did you mean 'dq'", "DQ"),
        ("lambda > 1 and lamda < 3", "did you mean 'lambda'", "lamda"),
        ("data.real > 0", "attribute access", "data.real"),
        ("data[0] > 1", "indexing", "data[0]"),
        ("__import__('os') == 1", "'__import__' cannot be called", "__import__"),
        ("open(data)", "'open' cannot be called", "open"),
        ("data & 1", "needs integers", "data & 1"),
        ("~data", "~ needs an integer", "~data"),
        ("sqrt > 1", "is a function", "sqrt"),
        ("sqrt(data, 2) > 1", "exactly one argument", "sqrt(data, 2)"),
        ("'a' == data", "str literal", "'a'"),
        ("ifu in (data, 1)", "number literals", "data"),
        ("ifu in data", "list of numbers", "data"),
        ("dq is 0", "comparison 'is'", "dq is 0"),
        ("data if dq else 0", "'x if c else y'", "data if dq else 0"),
        ("[x for x in data]", "comprehension", "[x for x in data]"),
        ("(y := 3) > 1", "assignment", "y := 3"),
        ("2 ** 70 > dq + 99999999999999999999", "does not fit in 64 bits", "99999999999999999999"),
        ("", "empty expression", ""),
    ],
)
def test_errors_point_at_the_offending_part(text: str, reason: str, part: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    err = info.value
    assert isinstance(err, CriteriaError)  # a usage error for the CLI
    assert reason in err.reason
    if part:
        assert text[err.start : err.end] == part, (text[err.start : err.end], part)
        caret_line = str(err).splitlines()[-1]
        assert caret_line.index("^") - 4 == err.start


def test_lambda_the_keyword_is_never_a_lambda() -> None:
    with pytest.raises(ExpressionError, match="syntax error"):
        parse("(lambda x: x)(1)")
    with pytest.raises(ExpressionError, match="unknown name 'lambda_'"):
        parse("lambda_ > 3")


# -- hypothesis: random expressions against a reference evaluation -------------

FLOAT_NAMES = ["data", "stat", "lambda"]
INT_NAMES = ["dq", "ifu", "xpix", "exp"]
_F_OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide}
_I_OPS = {"&": np.bitwise_and, "|": np.bitwise_or, "^": np.bitwise_xor, "+": np.add, "-": np.subtract, "*": np.multiply}
_CMP = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal, "!=": np.not_equal}
_F_FUNCS = {"abs": np.abs, "sqrt": np.sqrt, "log10": np.log10}


def _f(x):
    return x.astype(np.float64) if isinstance(x, np.ndarray) else np.float64(x)


class _Gen:
    """Random expressions of the grammar, each with its reference evaluation (written here,
    from the documented semantics: float64, int64, dq unsigned, / always float)."""

    def __init__(self, rnd) -> None:
        self.r = rnd

    def num(self, kind: str, depth: int):
        r = self.r
        if depth == 0 or r.random() < 0.25:
            if r.random() < 0.6:
                n = r.choice(FLOAT_NAMES if kind == "float" else INT_NAMES)
                return n, lambda e, n=n: e[n]
            if kind == "float":
                v = r.choice([0.0, 0.5, 3.0, -2.25, 6000.1, 1e-3, r.uniform(-1e4, 1e4)])
                return repr(v), lambda e, v=v: np.float64(v)
            v = r.choice([0, 1, 5, 24, 0x4000, 0x80000000, 2**40, r.randint(-(2**33), 2**33)])
            text = r.choice([str(v), hex(v) if v >= 0 else f"-{hex(-v)}"])
            return text, lambda e, v=v: np.int64(v)
        pick = r.random()
        if kind == "float":
            if pick < 0.45:
                (ta, fa), (tb, fb), op = self.num("float", depth - 1), self.num("float", depth - 1), r.choice(sorted(_F_OPS))
                return f"({ta} {op} {tb})", lambda e: _F_OPS[op](fa(e), fb(e))
            if pick < 0.65:
                (ta, fa), fn = self.num("float", depth - 1), r.choice(sorted(_F_FUNCS))
                return f"{fn}({ta})", lambda e: _F_FUNCS[fn](fa(e))
            if pick < 0.8:
                (ta, fa), (tb, fb) = self.num("float", depth - 1), self.num("int", depth - 1)
                return f"({ta} * {tb})", lambda e: fa(e) * _f(fb(e))
            (ta, fa), (tb, fb) = self.num("int", depth - 1), self.num("int", depth - 1)
            return f"({ta} / {tb})", lambda e: _f(fa(e)) / _f(fb(e))
        if pick < 0.5:
            (ta, fa), (tb, fb), op = self.num("int", depth - 1), self.num("int", depth - 1), r.choice(sorted(_I_OPS))
            return f"({ta} {op} {tb})", lambda e: _I_OPS[op](fa(e), fb(e))
        if pick < 0.7:
            (ta, fa), k, op = self.num("int", depth - 1), r.randint(0, 40), r.choice(["<<", ">>"])
            shift = np.left_shift if op == "<<" else np.right_shift
            return f"({ta} {op} {k})", lambda e: shift(fa(e), np.int64(k))
        if pick < 0.85:
            ta, fa = self.num("int", depth - 1)
            return f"(~{ta})", lambda e: np.invert(fa(e))
        ta, fa = self.num("int", depth - 1)
        return f"abs(-{ta})", lambda e: np.abs(np.negative(fa(e)))

    def cond(self, depth: int):
        r = self.r
        pick = r.random()
        if depth > 0 and pick < 0.3:
            (ta, fa), (tb, fb), op = self.cond(depth - 1), self.cond(depth - 1), r.choice(["and", "or"])
            f = np.logical_and if op == "and" else np.logical_or
            return f"({ta} {op} {tb})", lambda e: f(fa(e), fb(e))
        if depth > 0 and pick < 0.4:
            ta, fa = self.cond(depth - 1)
            return f"not {ta}", lambda e: np.logical_not(fa(e))
        if pick < 0.45:
            n = r.choice(FLOAT_NAMES)
            return f"isfinite({n})", lambda e: np.isfinite(e[n])
        if pick < 0.5:
            n, vals = r.choice(INT_NAMES), sorted(r.sample(range(0, 30), 3))
            return f"{n} in {tuple(vals)}", lambda e: np.isin(e[n], vals)
        kind = r.choice(["float", "int"])
        parts = [self.num(kind, 2) for _ in range(r.choice([2, 2, 3]))]
        ops = [r.choice(sorted(_CMP)) for _ in parts[1:]]
        text = " ".join(f"{p[0]} {o}" for p, o in zip(parts, ops)) + f" {parts[-1][0]}"

        def ref(e):
            out = np.full(N, True)
            for (_, a), o, (_, b) in zip(parts, ops, parts[1:]):
                out = out & _CMP[o](a(e), b(e))
            return out

        return text, ref


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_random_expressions_match_a_reference_evaluation(rnd) -> None:
    text, ref = _Gen(rnd).cond(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak from pixtab's evaluation
        got = parse(text).evaluate(ENV, N)
    with np.errstate(all="ignore"):
        want = np.broadcast_to(ref(REF), (N,))
    assert got.dtype == np.bool_ and np.array_equal(got, want), text


# -- hypothesis: nothing outside the whitelist is ever accepted -----------------

ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.Name,
    ast.Load, ast.Constant, ast.Tuple, ast.List, ast.Set,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.BitAnd, ast.BitOr, ast.BitXor,
    ast.LShift, ast.RShift, ast.UAdd, ast.USub, ast.Not, ast.Invert,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
)  # fmt: skip
TOKENS = [
    "data", "dq", "lambda", "ifu", "xpix", "ra", "sqrt", "abs", "log10", "isfinite", "1", "0x10", "2.5", "True",
    "(", ")", "[", "]", "{", "}", ",", ".", ":", "==", "<", ">=", "+", "-", "*", "**", "/", "&", "|", "~", "<<",
    "and", "or", "not", "in", "is", "if", "else", "for", "lambda", "x", ":=", "'s'", "f'{data}'", "b'x'", "__import__",
    "__class__", "__builtins__", "os", "eval", "exec", "open", "getattr", "real", "None", "...", "1j", "*", "@", "=",
    "yield", "await", "async",
]  # fmt: skip
FORBIDDEN = [
    "data.real", "data.__class__", "(1).__class__.__bases__", "data[0]", "data[1:2]", "(lambda: 1)()", "lambda: 1",
    "[x for x in (1, 2)]", "{x for x in (1,)}", "(x for x in (1,))", "{1: 2}", "__import__('os')", "eval('1')",
    "getattr(data, 'real')", "open('f')", "__builtins__", "data.__dict__", "sqrt.__call__(data)", "f'{data}'",
    "(y := 1)", "data if dq else stat", "'x'", "b'x'", "None", "...", "1j", "print(1)", "min(data)", "exp(1)",
    "sqrt(x=data)", "sqrt(*data)", "data @ stat", "dq is 0", "data is not None", "type(data)", "__name__",
]  # fmt: skip


def _only_whitelisted(text: str) -> None:
    """An accepted text's tree, as pixtab parses it, holds whitelisted nodes and names only."""
    tree = ast.parse(text.replace("lambda", "lambda_"), mode="eval")
    for node in ast.walk(tree):
        assert isinstance(node, ALLOWED_NODES), (text, type(node).__name__)
        if isinstance(node, ast.Name):
            assert node.id.replace("lambda_", "lambda") in NAMES or node.id in FUNCTIONS, text
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS and not node.keywords, text
        if isinstance(node, ast.Constant):
            assert type(node.value) in (int, float, bool), text


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=9).map(" ".join))
def test_token_soup_is_either_refused_or_whitelisted(text: str) -> None:
    try:
        parse(text)
    except ExpressionError:
        return
    _only_whitelisted(text)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(FORBIDDEN),
    st.sampled_from(["{}", "dq == 0 and {}", "({}) > 1", "abs({}) < 2", "not {}", "{} or data > 0", "ifu in (1, {})", "-{}"]),
)
def test_forbidden_syntax_is_never_accepted(fragment: str, context: str) -> None:
    with pytest.raises(ExpressionError):
        parse(context.format(fragment))
