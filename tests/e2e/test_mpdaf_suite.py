"""MPDAF's own PixTable unit tests, run against pixtab.mpdaf with only the import line changed.

MPDAF's test file is not part of this repository: it is taken at test time from
MPDAF's git repository (tag 3.6) in ``PIXTAB_MPDAF_REPO`` (default: the local
mirror), since the mpdaf wheel ships no tests. The tests that download MPDAF's
remote sample file (marked ``remote_data``) are left aside by the first test; the
second runs them too, on a local stand-in for that file (a simulated IFU-1 table cut
to the 1920 x 1101 detector window ``test_reconstruct`` expects), through a conftest
that answers astropy's ``download_file`` with it: the test file itself is unchanged.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.cli import invoke

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


def run_suite(where: Path, *select: str) -> str:
    """MPDAF's test file, import line changed, run in ``where``; pytest's summary line."""
    source = mpdaf_test_source()
    assert source.count(IMPORT) == 1, "MPDAF's test file changed its import line"
    (where / "test_pixtable.py").write_text(source.replace(IMPORT, "from pixtab.mpdaf import PixTable, pixtable"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *select,
         "-W", "ignore::pytest.PytestUnknownMarkWarning", "test_pixtable.py"],
        cwd=where, env=env, capture_output=True, text=True,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "failed" not in summary and "error" not in summary, summary
    return summary


def test_mpdaf_pixtable_suite_passes_on_the_facade(tmp_path: Path) -> None:
    summary = run_suite(tmp_path, "-m", "not remote_data")
    assert re.search(r"\b12 passed\b", summary), summary


STAND_IN = """import astropy.utils.data

def _local(url, *args, **kwargs):  # MPDAF's remote sample -> a local stand-in
    return {path!r}

astropy.utils.data.download_file = _local
"""


@pytest.mark.slow
def test_mpdaf_remote_data_tests_pass_on_a_local_stand_in(tmp_path: Path) -> None:
    full, cut = tmp_path / "full.fits", tmp_path / "testpix-small.fits"
    for args in (["simulate", str(full), "--nrows", "1e6", "--ifus", "1", "--wcs", "projected"],
                 ["extract", str(full), "-o", str(cut), "--xpix", "1001:2921", "--ypix", "1001:2102"]):
        invoke(*args)
    (tmp_path / "conftest.py").write_text(STAND_IN.format(path=str(cut)))
    summary = run_suite(tmp_path)
    assert re.search(r"\b19 passed\b", summary), summary
