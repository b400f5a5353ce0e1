"""Issue 13 items 14, 15, 16: headers that grow or shrink, long strings, infinities.

14: the primary header may need more or fewer blocks at the end than at the start.
15: long unit strings and EXTNAMEs (CONTINUE cards) are carried into outputs.
16: ``inf`` in header values: JSON gets null (with a warning), outputs are written, a sky cut
    around a centre that is not finite is refused with one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import pixtab
from pixtab.core.io.writer import ColumnSpec, PixtableWriter

from helpers.cli import run_pixtab
from helpers.faults import assert_one_line_error, make_table, set_card, variant

K = "HIERARCH ESO DRS MUSE PIXTABLE "


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_table(tmp_path_factory.mktemp("headers") / "base.fits", rows=3000, ifus=[3, 4])


def _ok(path: Path) -> fits.HDUList:
    hdul = fits.open(path)
    hdul.verify("exception")
    return hdul


@pytest.mark.parametrize("extra_cards", [0, 40, 300])
@pytest.mark.parametrize("layout", ["image", "table"])
def test_writer_header_may_grow_or_shrink(extra_cards: int, layout: str, tmp_path: Path) -> None:
    first = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
    for i in range(100):
        first[f"PAD{i}"] = i
    final = first.copy()
    if extra_cards:
        for i in range(extra_cards):
            final[f"MORE{i}"] = "x" * 60
    else:
        for i in range(100):
            del final[f"PAD{i}"]  # shrinks from 2 blocks to 1
    specs = [ColumnSpec("a", np.dtype("float32"), "Angstrom"), ColumnSpec("b", np.dtype("int32"))]
    a, b = np.arange(5000, dtype=np.float32), np.arange(5000, dtype=np.int32) * 3
    path = tmp_path / "w.fits"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        w = PixtableWriter(fd, first, specs, 5000, layout, [])
        w.write({"a": a, "b": b})
        w.finish(final)
    finally:
        os.close(fd)
    with _ok(path) as hdul:
        for k in final:
            assert hdul[0].header[k] == final[k]
        if layout == "image":
            assert np.array_equal(hdul["a"].data.ravel(), a) and np.array_equal(hdul["b"].data.ravel(), b)
        else:
            assert np.array_equal(hdul[1].data["a"], a) and np.array_equal(hdul[1].data["b"], b)
    assert os.path.getsize(path) % 2880 == 0


def _merged_long(h: fits.HDUList) -> None:
    h[0].header[K + "MERGED"] = "x" * 600  # a CONTINUE string, replaced by a number in outputs


def _all_nan_x(h: fits.HDUList) -> None:
    h["xpos"].data[:] = np.nan


def _long_unit(h: fits.HDUList) -> None:
    h["data"].header["BUNIT"] = "10**(-20)*erg/s/cm**2/Angstrom " + "u" * 100


def _long_extname(h: fits.HDUList) -> None:
    h.append(fits.ImageHDU(np.arange(len(h["xpos"].data), dtype=np.float32).reshape(-1, 1), name="E" * 90))


@pytest.mark.parametrize("change", [_merged_long, _all_nan_x, _long_unit, _long_extname], ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "command",
    [["extract", "--ifu", "3"], ["extract", "--ifu", "3", "--layout", "table"], ["convert"], ["convert", "--to", "image"]],
    ids=" ".join,
)
def test_outputs_of_unusual_headers(change, command: list[str], base: Path, tmp_path: Path) -> None:
    src = variant(base, tmp_path / "in.fits", change)
    out = tmp_path / "out.fits"
    run = run_pixtab(command[0], src, "-o", out, *command[1:])
    assert run.returncode == 0, run.stderr
    with _ok(out) as hdul, pixtab.open(out) as pt:
        if change is _long_unit:
            assert pt.columns["data"].unit == "10**(-20)*erg/s/cm**2/Angstrom " + "u" * 100
        if change is _long_extname:
            assert "e" * 90 in pt.columns and pt.columns["e" * 90].stored_name == "E" * 90
        if change is _merged_long and command[0] == "extract":
            assert pt.keywords.merged == 1
    info = run_pixtab("info", "--json", out)
    assert info.returncode == 0, info.stderr


def _inf_card(base: Path, tmp: Path, card: str, text: str) -> Path:
    path = tmp / "inf.fits"
    path.write_bytes(set_card(base.read_bytes(), 0, card, text))
    return path


INF_CARDS = {
    "CRVAL1": ("CRVAL1  ", "CRVAL1  =                1E999"),
    "CRVAL2": ("CRVAL2  ", "CRVAL2  =               -1E999"),
    "LIMITS": (K + "LIMITS LAMBDA LOW", K + "LIMITS LAMBDA LOW = 1E999"),
    "RA": ("RA      ", "RA      =                1E999"),
}


@pytest.mark.parametrize("which", sorted(INF_CARDS))
def test_inf_in_the_header(which: str, base: Path, tmp_path: Path) -> None:
    src = _inf_card(base, tmp_path, *INF_CARDS[which])
    run = run_pixtab("info", "--json", src)
    assert run.returncode == 0, run.stderr
    json.loads(run.stdout)  # strict JSON: no Infinity
    assert "internal error" not in run.stderr
    if which != "RA":  # RA/DEC are not shown for a positioned table
        assert "not finite" in run.stderr
    for args in (["extract", "--ifu", "3"], ["extract", "--ifu", "3", "--layout", "table"], ["convert"]):
        out = tmp_path / "o.fits"
        run = run_pixtab(args[0], src, "-o", out, "--overwrite", *args[1:])
        assert run.returncode == 0, run.stderr
        _ok(out).close()
    run = run_pixtab("extract", src, "--count", "--circle", "150.1163", "2.2058", "3")
    if which in ("CRVAL1", "CRVAL2"):
        assert run.returncode == 1
        assert_one_line_error(run.stdout, run.stderr, src, "not finite")
    else:
        assert run.returncode == 0 and "internal error" not in run.stderr, run.stderr
    run = run_pixtab("decode-origin", src, "--sky", "--rows", "0:5")
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr, run.stderr
