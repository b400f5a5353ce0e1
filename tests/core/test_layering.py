"""The core's layers, read from its imports (ast): a lower layer never imports a higher one.

errors, progress <- fits (FITS structure, dtypes, HDU writing, atomic output)
       <- format (keywords, limits, origin codec and detector decoder, columns, sky, slicer)
       <- io (table, layouts, row sources and selection, writer)
       <- ops (row-moving operations; measure/, pictures/, sky/, simulate/, reconstruct/ groups)

No core module imports click or rich (the CLI's business).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "pixtab" / "core"
RANK = {"errors": 0, "progress": 0, "fits": 1, "format": 2, "io": 3, "ops": 4}


def _layer(module: str) -> str:
    """'pixtab.core.io.table' -> 'io'; the core package itself is the bottom."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 else "errors"


def _module(path: Path) -> str:
    rel = path.relative_to(CORE.parent.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    here = _module(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append(mod)
            out += [f"{mod}.{a.name}" for a in node.names]  # "from . import origin"
    return out


MODULES = sorted(p for p in CORE.rglob("*.py"))


def test_every_module_is_in_a_layer() -> None:
    for p in MODULES:
        mod = _module(p)
        assert _layer(mod) in RANK, f"{mod} is in no layer ({', '.join(RANK)})"


@pytest.mark.parametrize("path", MODULES, ids=[_module(p) for p in MODULES])
def test_no_upward_import(path: Path) -> None:
    mine = RANK[_layer(_module(path))]
    for name in _imports(path):
        top = name.split(".")[0]
        assert top not in ("click", "rich"), f"{_module(path)} imports {name}"
        if name.startswith("pixtab.core"):
            layer = _layer(name)
            if layer in RANK:  # "pixtab.core.errors.X" etc.
                assert RANK[layer] <= mine, f"{_module(path)} ({_layer(_module(path))}) imports {name} ({layer})"
        elif name.startswith("pixtab"):
            pytest.fail(f"{_module(path)} imports {name}: the core depends on nothing else in pixtab")


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """A sanity check of the checker itself, on a fake module."""
    fake = CORE / "format" / "_fake_for_test.py"
    try:
        fake.write_text("from ..io.table import PixTable\nimport click\n")
        names = _imports(fake)
    finally:
        fake.unlink()
    assert "pixtab.core.io.table" in names and "click" in names


# -- no import loops: the core's modules, ops subpackages, and the CLI -------------------

PIXTAB = CORE.parent


def _edges(path: Path, mods: set[str]) -> set[str]:
    """The modules of ``mods`` that ``path`` imports; ``from pkg import sub`` of a submodule
    depends on ``sub``, not on the package's own code (a package runs before its modules anyway)."""
    here = _module(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in mods}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else [])) if node.level else node.module or ""
            subs = [f"{base}.{a.name}" for a in node.names]
            if all(sub in mods for sub in subs):
                out |= set(subs)
            elif base in mods:
                out.add(base)
    return out


def _graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same tree it imports (at any depth of its code)."""
    paths = {_module(p): p for p in root.rglob("*.py")}
    return {m: _edges(p, set(paths)) - {m} for m, p in paths.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.mark.parametrize("tree", ["core", "cli"])
def test_no_import_loop(tree: str) -> None:
    """No module imports itself back through others (imports inside functions count too)."""
    assert _cycles(_graph(PIXTAB / tree)) == []


#: ops modules every subpackage may use: helpers shared by the operations, not operations
OPS_SHARED = ("pixtab.core.ops.explain", "pixtab.core.ops.optional")
#: the groups of ops that build on another group (the sky spectrum masks the peaks of an image)
OPS_USES = {"sky": ("measure",)}


def test_ops_subpackages_stand_alone() -> None:
    """A subpackage of ops (one operation or group of operations) imports the lower layers,
    itself, the shared helpers and the groups OPS_USES names for it, no other operation."""
    ops = CORE / "ops"
    for pkg in (p for p in ops.iterdir() if (p / "__init__.py").exists()):
        allowed = (_module(pkg), *OPS_SHARED, *(f"pixtab.core.ops.{g}" for g in OPS_USES.get(pkg.name, ())))
        for path in pkg.rglob("*.py"):
            for name in _imports(path):
                if name.startswith("pixtab.core.ops.") and not any(name == a or name.startswith(a + ".") for a in allowed):
                    pytest.fail(f"{_module(path)} imports {name}: outside its operation")


def test_the_loop_finder_finds_a_loop() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_tests_mirror_the_code() -> None:
    """No test module at the tests/ root (each lives beside what it tests: core/<layer>, cli,
    api, mpdaf, or an end-to-end folder), no module named conftest_*, and one in-process CLI runner:
    click's CliRunner is built in tests/helpers/cli.py only."""
    tests = CORE.parents[1] / "tests"
    assert sorted(p.name for p in tests.glob("*.py")) == ["conftest.py"]
    assert not list(tests.rglob("conftest_*.py"))
    runners = [p.relative_to(tests).as_posix() for p in tests.rglob("*.py") if "CliRunner" + "(" in p.read_text()]
    assert runners == ["helpers/cli.py"]
