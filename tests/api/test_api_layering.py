"""pixtab.api and pixtab.mpdaf sit on the core: they import neither the CLI nor click/rich,
and the MPDAF facade reaches the engine only through the API's one adapter module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "pixtab"
MODULES = sorted((PKG / "api").glob("*.py")) + sorted((PKG / "mpdaf").glob("*.py"))
#: the row engine and the operations; only the adapter pixtab/api/_engine.py names them
ENGINE = ("pixtab.core.ops", "pixtab.core.io.selection", "pixtab.core.io.scan", "pixtab.core.io.plan")


def _imports(path: Path) -> list[str]:
    package = ["pixtab", path.parent.name]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            out.append(".".join(base + ([node.module] if node.module else [])))
    return out


@pytest.mark.parametrize("path", MODULES, ids=[f"{p.parent.name}/{p.name}" for p in MODULES])
def test_no_cli_and_one_engine_seam(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] not in ("click", "rich"), f"{path.name} imports {name}"
        assert not name.startswith("pixtab.cli"), f"{path.name} imports {name}"
        if path.name != "_engine.py":
            assert not name.startswith(ENGINE), f"{path.name} imports {name}: go through pixtab/api/_engine.py"
