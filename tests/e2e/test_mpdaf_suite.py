"""MPDAF's own PixTable unit tests, run against pixtab.mpdaf with only the import line changed.

MPDAF's test file is not part of this repository: it is taken at test time from
MPDAF's git repository (tag 3.6) in ``PIXTAB_MPDAF_REPO`` (default: the local
mirror), since the mpdaf wheel ships no tests. The tests that download MPDAF's
remote sample file (marked ``remote_data``) are left aside.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = os.environ.get("PIXTAB_MPDAF_REPO", "/work/.mirror/musevlt+mpdaf/repo")
TAG = "3.6"
TEST_FILE = "lib/mpdaf/drs/tests/test_pixtable.py"
IMPORT = "from mpdaf.drs import PixTable, pixtable"
ROOT = Path(__file__).resolve().parents[2]


def mpdaf_test_source() -> str:
    if not Path(REPO).exists():
        pytest.skip(f"MPDAF's repository is not at {REPO} (set PIXTAB_MPDAF_REPO to a clone of musevlt/mpdaf)")
    done = subprocess.run(["git", "-C", REPO, "show", f"{TAG}:{TEST_FILE}"], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"{REPO} has no {TAG}:{TEST_FILE}: {done.stderr.strip()}")
    return done.stdout


def test_mpdaf_pixtable_suite_passes_on_the_facade(tmp_path: Path) -> None:
    source = mpdaf_test_source()
    assert source.count(IMPORT) == 1, "MPDAF's test file changed its import line"
    (tmp_path / "test_pixtable.py").write_text(source.replace(IMPORT, "from pixtab.mpdaf import PixTable, pixtable"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-m", "not remote_data",
         "-W", "ignore::pytest.PytestUnknownMarkWarning", "test_pixtable.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\b12 passed\b", summary), summary
    assert "failed" not in summary and "error" not in summary, summary
