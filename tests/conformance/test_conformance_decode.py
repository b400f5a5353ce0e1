"""Conformance: every decode_origin, sky_positions and reconstruct_det case, through the CLI.

decode-origin: exact ifu, slice, xpix, ypix (0-based) and exp for every row.
sky positions: |dRA| (wrapped) and |dDec| within the case tolerance on the listed rows.
reconstruct-det: shape, xstart, ystart exactly, pixel values exactly, fill in the same
places; R06 must fail. Cases with ``pre_extract`` run ``pixtab extract`` first.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from pixtab.cli import cli

from conftest import CONFORMANCE, conformance_cases, conformance_file
from helpers.cli import invoke

pytestmark = pytest.mark.conformance

CASES = conformance_cases()
DECODE = CASES["decode_origin"]
SKY = CASES["sky_positions"]
RECON = CASES["reconstruct_det"]


def _array(ref: dict) -> np.ndarray:
    return np.load(CONFORMANCE / ref["npz"])[ref["key"]]


@lru_cache(maxsize=None)
def _decoded(key: str, sky: bool) -> np.ndarray:
    """CSV of ``decode-origin FILE --format csv --zero-based [--sky]`` parsed to a float64/int64 array."""
    args = ["decode-origin", str(conformance_file(key)), "--format", "csv", "--zero-based"] + (["--sky"] if sky else [])
    result = invoke(*args)
    header, _, body = result.stdout.partition("\n")
    want = "row,ifu,slice,xpix,ypix,exp" + (",ra,dec" if sky else "")
    assert header == want
    return np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64 if sky else np.int64, ndmin=2)


@pytest.mark.parametrize("case", DECODE, ids=[c["id"] for c in DECODE])
def test_decode_origin_conformance(case: dict) -> None:
    got = _decoded(case["file"], False)
    nrows = CASES["files"][case["file"]]["nrows"]
    assert got.shape == (nrows, 6)
    assert np.array_equal(got[:, 0], np.arange(nrows))
    exp = case["expected"]
    for i, name in enumerate(("ifu", "slice", "xpix", "ypix"), start=1):
        want = _array(exp[name]).astype(np.int64)
        bad = np.flatnonzero(got[:, i] != want)
        assert bad.size == 0, f"{name}: {bad.size} rows differ, first row {bad[:1]}: {got[bad[:1], i]} != {want[bad[:1]]}"
    want_exp = np.zeros(nrows, np.int64) if exp["exp"] == 0 else _array(exp["exp"]).astype(np.int64)
    assert np.array_equal(got[:, 5], want_exp)


@pytest.mark.parametrize("case", SKY, ids=[c["id"] for c in SKY])
def test_sky_positions_conformance(case: dict) -> None:
    got = _decoded(case["file"], True)
    exp = case["expected"]
    rows = _array(exp["rows"])
    ra, dec = got[rows, 6], got[rows, 7]
    assert np.all((ra >= 0) & (ra < 360))
    dra = (ra - _array(exp["ra"]) + 180.0) % 360.0 - 180.0
    ddec = dec - _array(exp["dec"])
    tol = exp["tolerance_deg"]
    assert np.abs(dra).max() <= tol
    assert np.abs(ddec).max() <= tol


def test_sky_positions_keep_full_precision() -> None:
    """The CSV carries repr-exact doubles: parsing them back gives the very values pixtab computed."""
    import pixtab
    from pixtab.core.format.sky import SkyFrame

    path = conformance_file("F3")
    with pixtab.open(path) as pt:
        cols = pt.read(["xpos", "ypos"], 0, 200)
        ra, dec = SkyFrame.of(pt).radec(cols["xpos"], cols["ypos"])
    got = _decoded("F3", True)[:200]
    assert np.array_equal(got[:, 6], ra) and np.array_equal(got[:, 7], dec)


# -- reconstruct-det -------------------------------------------------------------


def _criteria_args(criteria: dict) -> list[str]:
    """``pixtab extract`` options for a conformance criteria dict (see the README's schema)."""
    args: list[str] = []
    joined = lambda values: ",".join(str(v) for v in values)  # noqa: E731
    for dec, ra, size, shape in criteria.get("sky", []):
        args += ["--circle" if shape == "C" else "--square", repr(ra), repr(dec), repr(size)]
    for lo, hi in criteria.get("lbda", []):
        args += ["--lambda", f"{lo!r}:{hi!r}"]
    for key, opt in (("ifu", "--ifu"), ("sl", "--slice"), ("stack", "--stack"), ("exp", "--exp")):
        if key in criteria:
            args += [opt, joined(criteria[key])]
    for key, opt in (("xpix", "--xpix"), ("ypix", "--ypix")):
        for lo, hi in criteria.get(key, []):
            args += [opt, f"{lo}:{hi}"]
    if criteria.get("method", "and") == "or":
        args.append("--or")
    return args


def _input_for(case: dict, tmp_path: Path) -> Path:
    src = conformance_file(case["file"])
    if not case["pre_extract"]:
        return src
    if "extract" not in cli.commands:
        pytest.skip("needs `pixtab extract` (not registered yet)")
    out = tmp_path / "extracted.fits"
    args = ["extract", str(src), "-o", str(out), "--zero-based"] + _criteria_args(case["pre_extract"])
    invoke(*args)
    return out


@pytest.mark.parametrize("case", RECON, ids=[c["id"] for c in RECON])
def test_reconstruct_det_conformance(case: dict, tmp_path: Path) -> None:
    src = _input_for(case, tmp_path)
    out = tmp_path / "det.fits"
    args = ["reconstruct-det", str(src), "-o", str(out), "--zero-based"]
    if case["kind"] == "wave":
        args += ["--column", "lambda", "--fill", "0"]
    else:
        args += ["--column", "data", "--fill", "nan"]
    if case["window"]:
        w = case["window"]
        args += ["--xpix", f"{w['xstart']}:{w['xstop'] + 1}", "--ypix", f"{w['ystart']}:{w['ystop'] + 1}"]
    result = invoke(*args, code=None)
    exp = case["expected"]
    if "error" in exp:
        assert result.exit_code == 2, result.stderr  # several IFUs, no --ifu: a usage error
        assert "--ifu" in result.stderr
        assert not out.exists()
        return
    assert result.exit_code == 0, result.stderr
    with fits.open(out) as hdul:
        hdu = hdul[1]
        image = hdu.data
        h = hdu.header
        assert list(image.shape) == exp["shape"]
        assert h["CRVAL1"] == exp["xstart"] and h["CRVAL2"] == exp["ystart"]
        assert h["CRPIX1"] == 1 and h["CRPIX2"] == 1 and h["PIXBASE"] == 0
        want = _array(exp["image"])
        if exp["fill"] == "nan":
            assert np.array_equal(np.isnan(image), np.isnan(want))
            assert int(np.count_nonzero(~np.isnan(image))) == exp["n_filled"]
        else:
            assert not np.isnan(image).any()
        assert np.array_equal(image, want, equal_nan=True)
        assert h["NFILLED"] == exp["n_filled"]

