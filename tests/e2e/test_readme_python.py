"""The README's Python examples ("Python", "Coming from MPDAF") print what the README shows.

Each ``<!-- NAME-example -->`` code block of the README is run as it is, in a fresh
interpreter, in a directory holding the table made by the ``pixtab simulate`` command
the section names; its output must be the ``<!-- NAME-output -->`` block.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.cli import invoke


ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def block_after(marker: str) -> str:
    """The fenced code block right after ``<!-- marker ... -->``."""
    m = re.search(r"<!-- " + re.escape(marker) + r"\b[^>]*-->\s*```[a-z]*\n(.*?)```", README, re.S)
    assert m, f"README has no block after <!-- {marker} -->"
    return m.group(1)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    m = re.search(r"`pixtab (simulate sample\.fits [^`]*)`", README)
    assert m, "the Python section names the simulate command of its table"
    work = tmp_path_factory.mktemp("readme")
    invoke(*[a.replace("sample.fits", str(work / "sample.fits")) for a in shlex.split(m.group(1))])
    return work


@pytest.mark.parametrize("name", ["python", "mpdaf"])
def test_readme_example_prints_what_the_readme_shows(name: str, workdir: Path) -> None:
    code, shown = block_after(f"{name}-example"), block_after(f"{name}-output")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == shown
    assert "Warning" not in done.stderr, done.stderr
