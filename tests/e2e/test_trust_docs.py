"""Issue 13 item 8: every man page's title line fits man's 80 columns (never cut)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted((REPO / "man").glob("*.1"))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_title_line_fits_80_columns(page: Path) -> None:
    th = next(line for line in page.read_text().splitlines() if line.startswith(".TH "))
    title, section, _date, _source, manual = re.findall(r'"([^"]*)"', th)
    assert title == page.stem.upper()
    # man centres the manual name between "TITLE(1)" on both sides.
    assert 2 * len(f"{title}({section})") + len(manual) + 2 <= 80, th


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_man_renders_the_whole_title(page: Path) -> None:
    env = {**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": "0", "LC_ALL": "C"}
    run = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    first = next(line for line in run.stdout.splitlines() if line.strip())
    name = f"{page.stem.upper()}(1)"
    assert first.startswith(name) and first.rstrip().endswith(name) and "pixtab Manual" in first, first
