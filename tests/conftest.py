"""Shared fixtures: the conformance set (read in place) and cached simulated tables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFORMANCE = Path(os.environ.get("PIXTAB_CONFORMANCE", REPO.parent / "shared" / "conformance"))


def conformance_cases() -> dict:
    """cases.json of the conformance set; fails loudly when the set is missing."""
    path = CONFORMANCE / "cases.json"
    if not path.exists():
        pytest.fail(f"conformance set not found at {CONFORMANCE} (set PIXTAB_CONFORMANCE)", pytrace=False)
    return json.loads(path.read_text())


def conformance_file(key: str) -> Path:
    """Path of conformance table F1..F8."""
    return CONFORMANCE / conformance_cases()["files"][key]["path"]


@pytest.fixture(scope="session")
def cases() -> dict:
    return conformance_cases()


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``simulated(rows=..., layout=..., ...)`` -> path of a cached synthetic table.

    Tables are made once per session per parameter set; treat them as read-only.
    """
    from pixtab.core.ops.simulate import SimulationSpec, simulate

    cache: dict[tuple, Path] = {}
    base = tmp_path_factory.mktemp("sim")

    def make(**kw: object) -> Path:
        kw.setdefault("rows", 20_000)
        if "ifus" in kw:
            kw["ifus"] = list(kw["ifus"])  # type: ignore[arg-type]
        key = tuple(sorted((k, str(v)) for k, v in kw.items()))
        if key not in cache:
            path = base / f"sim{len(cache)}.fits"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                simulate(fd, SimulationSpec(**kw))  # type: ignore[arg-type]
            finally:
                os.close(fd)
            os.chmod(path, 0o444)
            cache[key] = path
        return cache[key]

    return make
