"""Issue 13 item 10: an input replaced (or changed) while pixtab reads it.

A table is opened once and every read goes through that descriptor: a file atomically
replaced by name meanwhile is still read whole from its old inode, so the output is the
old file's; a file changed in place (its size changes) is one clear error, never a
silently wrong output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from astropy.io import fits

from pixtab.core.errors import InputError
from pixtab.core.fits.atomic import atomic_output
from pixtab.core.io.criteria import Criteria
from pixtab.core.io.table import PixTable
from pixtab.core.ops.convert import convert
from pixtab.core.ops.extract import select_rows, write_selection

from helpers.cli import REPO, pixtab_cmd
from helpers.faults import make_table, sha256


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("replace")
    a = make_table(d / "a.fits", rows=30_000, ifus=[3, 4], seed=1)
    b = make_table(d / "b.fits", rows=50_000, ifus=[5, 6, 7], seed=2, layout="table", exposures=2)
    return a, b


def extract(pt: PixTable, crit: Criteria, out: str):
    """Select then write, as the CLI does; returns the selection (``.count()`` rows)."""
    selection = select_rows(pt, crit)
    with atomic_output(out) as fd:
        write_selection(pt, selection, crit, fd, "image")
    return selection


def _convert(pt: PixTable, out: Path) -> bytes:
    with atomic_output(out) as fd:
        convert(pt, fd)
    return out.read_bytes()


def test_replaced_input_is_read_from_the_file_that_was_opened(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = pair
    with PixTable(a) as pt:
        want = _convert(pt, tmp_path / "want.fits")
    work = tmp_path / "in.fits"
    shutil.copy(a, work)
    with PixTable(work) as pt:
        replacement = tmp_path / "b-copy.fits"
        shutil.copy(b, replacement)
        os.replace(replacement, work)  # another process replaces the input by name
        got = _convert(pt, tmp_path / "got.fits")
    assert got == want


def test_replaced_input_extract_keeps_every_row(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = pair
    crit = Criteria(lambdas=[(5000.0, 8000.0)])
    with PixTable(a) as pt:
        want = extract(pt, crit, str(tmp_path / "want.fits")).count()
    work = tmp_path / "in.fits"
    shutil.copy(a, work)
    with PixTable(work) as pt:
        shutil.copy(b, tmp_path / "b-copy.fits")
        os.replace(tmp_path / "b-copy.fits", work)
        got = extract(pt, crit, str(tmp_path / "got.fits"))
    assert got.count() == want
    assert sha256(tmp_path / "got.fits") == sha256(tmp_path / "want.fits")


@pytest.mark.parametrize("change", ["truncate", "append"])
def test_input_changed_in_place_is_one_clear_error(change: str, pair: tuple[Path, Path], tmp_path: Path) -> None:
    work = tmp_path / "in.fits"
    shutil.copy(pair[0], work)
    with PixTable(work) as pt:
        with open(work, "r+b") as f:
            if change == "truncate":
                f.truncate(pt.size - 2880 * 3)
            else:
                f.seek(0, 2)
                f.write(b"\0" * 2880)
        with pytest.raises(InputError, match="changed while being read|unexpected end of file"):
            _convert(pt, tmp_path / "out.fits")
    assert not (tmp_path / "out.fits").exists()


def test_cli_runs_racing_a_replacing_writer_never_lie(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """A writer swaps the input between two tables; every run that exits 0 wrote one of their results."""
    a, b = pair
    expected = set()
    for src in (a, b):
        out = tmp_path / f"ref-{src.stem}.fits"
        subprocess.run(pixtab_cmd("convert", src, "-o", out, "--to", "table"), check=True, cwd=REPO)
        expected.add(sha256(out))
    work = tmp_path / "in.fits"
    shutil.copy(a, work)
    stop = threading.Event()

    def swapper() -> None:
        i = 0
        while not stop.is_set():
            src = (a, b)[i % 2]
            tmp = tmp_path / f".swap{i % 2}"
            shutil.copy(src, tmp)
            os.replace(tmp, work)
            i += 1

    t = threading.Thread(target=swapper)
    t.start()
    try:
        for k in range(12):
            out = tmp_path / f"o{k}.fits"
            run = subprocess.run(pixtab_cmd("convert", work, "-o", out, "--to", "table"),
                                 capture_output=True, text=True, cwd=REPO, timeout=120)
            assert "internal error" not in run.stderr and "Traceback" not in run.stderr, run.stderr
            if run.returncode == 0:
                assert sha256(out) in expected
                with fits.open(out) as hdul:
                    hdul.verify("exception")
            else:
                assert len(run.stderr.splitlines()) == 1 and not out.exists(), run.stderr
    finally:
        stop.set()
        t.join()
