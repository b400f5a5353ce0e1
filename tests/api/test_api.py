"""The pixtab API (pixtab.open -> Table -> Selection) against the commands, on simulated tables."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table as AstropyTable

import pixtab

from helpers import drs
from helpers.cli import invoke
from helpers.skyimages import sky_mask

RA, DEC = 150.1163, 2.2058
STAR = ["--circle", str(RA), str(DEC), "2", "--lambda", "6000:6100"]


def run(*args: object) -> str:
    """stdout of ``pixtab ARGS`` (which must succeed)."""
    return invoke(*args).stdout


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "t.fits"
    run("simulate", path, "--nrows", "4e5", "--ifus", "12,13", "--source", RA, DEC, "0.8", "5000")
    return path


@pytest.fixture(scope="module")
def combined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api") / "c.fits"
    run("simulate", path, "--nrows", "1e5", "--ifus", "10,11", "--exposures", "3")
    return path


def test_repr_says_file_rows_layout_state_exposures(table: Path, combined: Path) -> None:
    with pixtab.open(table) as pt:
        assert repr(pt) == "<pixtab.Table t.fits: 400,000 rows, image layout, positioned, 1 exposure>"
        assert (pt.nrows, pt.layout, pt.state, pt.exposures) == (400_000, "image", "positioned", [0])
        sel = pt.select(circle=(RA, DEC, 2.0))
        assert repr(sel) == "<pixtab.Selection of t.fits: criteria, not run yet>"
        n = sel.count()
        assert repr(sel) == f"<pixtab.Selection of t.fits: criteria, {n:,} rows>"
    with pixtab.open(combined) as pt:
        assert repr(pt) == "<pixtab.Table c.fits: 100,000 rows, image layout, positioned, 3 exposures (1-3)>"


def test_import_pixtab_is_cheap() -> None:
    code = "import sys, pixtab; pixtab.open; print('numpy' in sys.modules, 'astropy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize(
    "kwargs, error, field",
    [
        (dict(ifu=25), pixtab.CriteriaError, "ifu"),
        (dict(stack=[0]), pixtab.CriteriaError, "stack"),
        (dict(lam=(6100, 6000)), pixtab.CriteriaError, "lambda"),
        (dict(circle=(RA, DEC, -1)), pixtab.CriteriaError, "circle"),
        (dict(where="data >"), pixtab.CriteriaError, None),
        (dict(exp=2), pixtab.InputError, "exp"),  # a single-exposure table has only exposure 0
    ],
)
def test_errors_are_typed_and_speak_the_domain(table: Path, kwargs: dict, error: type, field: str | None) -> None:
    with pixtab.open(table) as pt:
        with pytest.raises(error) as exc:
            pt.select(**kwargs).count()
    assert field is None or exc.value.field == field
    assert "--" not in str(exc.value)  # no command-line words


def test_angles_and_open_ranges(table: Path) -> None:
    import astropy.units as u

    with pixtab.open(table) as pt:
        a = pt.select(circle=(RA * u.deg, DEC * u.deg, 2 * u.arcsec), lam=(6000, None)).rows
        b = pt.select(circle=(RA, DEC, 2.0), lam=(6000, 1e9)).rows
    np.testing.assert_array_equal(a, b)
    assert a.size > 0


def test_selection_matches_the_commands(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.fits"
    run("extract", table, "-o", out, *STAR)
    csv = run("decode-origin", out)
    with pixtab.open(table) as pt:
        sel = pt.select(circle=(RA, DEC, 2.0), lam=(6000, 6100))
        sel.write(tmp_path / "api.fits")
        decoded = sel.decode()
        cols = sel.read(["lambda", "data", "dq"])
        t = sel.table()
    assert (tmp_path / "api.fits").read_bytes() == out.read_bytes()
    want = np.loadtxt(io.StringIO(csv), delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    got = np.column_stack([np.asarray(decoded[c]) for c in ("ifu", "slice", "xpix", "ypix", "exp")])
    np.testing.assert_array_equal(got, want[:, 1:])  # decode-origin of the extract: same pixels
    with pixtab.open(out) as cut:
        back = cut.read()
    for name in ("lambda", "data", "dq"):
        np.testing.assert_array_equal(cols[name], back[name])
        np.testing.assert_array_equal(np.asarray(t[name]), back[name])
    assert cols["dq"].dtype == np.uint32 and str(t["lambda"].unit) == "Angstrom"
    assert t.colnames == ["row", "xpos", "ypos", "lambda", "data", "dq", "stat", "origin"]


def test_narrowing(table: Path) -> None:
    with pixtab.open(table) as pt:
        star = pt.select(circle=(RA, DEC, 2.0), lam=(6000, 6100))
        one = star.select(ifu=12)
        assert one.criteria is not None  # said as one set of criteria: planned as a whole
        np.testing.assert_array_equal(one.rows, pt.select(circle=(RA, DEC, 2.0), lam=(6000, 6100), ifu=12).rows)
        inner = star.select(circle=(RA, DEC, 1.0))  # two apertures cannot be AND-ed as one criterion
        assert inner.criteria is None
        np.testing.assert_array_equal(inner.rows, np.intersect1d(star.rows, pt.select(circle=(RA, DEC, 1.0)).rows))
        assert 0 < inner.count() < star.count()
        either = pt.select(ifu=12, lam=(6000, 6100), any=True).select(ifu=13)
        np.testing.assert_array_equal(either.rows, pt.select(ifu=13, lam=(6000, 6100)).rows)
        lam = star.select(lam=(6050, 7000))
        np.testing.assert_array_equal(lam.rows, pt.select(circle=(RA, DEC, 2.0), lam=(6050, 6100)).rows)


def test_with_columns_writes_replaced_values_and_recomputes_limits(table: Path, tmp_path: Path) -> None:
    plain, fixed = tmp_path / "plain.fits", tmp_path / "fixed.fits"
    with pixtab.open(table) as pt:
        sel = pt.select(circle=(RA, DEC, 2.0), lam=(6000, 6100))
        cols = sel.read(["lambda", "data"])
        sel.write(plain)
        sel.with_columns(data=cols["data"] * 2, **{"lambda": cols["lambda"] + 10}).write(fixed)
        with pytest.raises(pixtab.CriteriaError):
            sel.with_columns(data=cols["data"][:-1])
        with pytest.raises(pixtab.InputError):
            sel.with_columns(flux=cols["data"])
    with pixtab.open(plain) as a, pixtab.open(fixed) as b:
        ra, rb = a.read(), b.read()
        ha, hb = a.primary_header, b.primary_header
    np.testing.assert_array_equal(rb["data"], (ra["data"] * 2).astype(np.float32))
    np.testing.assert_array_equal(rb["lambda"], ra["lambda"] + np.float32(10))
    for name in ("xpos", "ypos", "dq", "stat", "origin"):
        np.testing.assert_array_equal(rb[name], ra[name])
    key = "HIERARCH ESO DRS MUSE PIXTABLE LIMITS LAMBDA "
    assert hb[key + "LOW"] == pytest.approx(ha[key + "LOW"] + 10) and hb[key + "HIGH"] == pytest.approx(ha[key + "HIGH"] + 10)
    assert hb[key + "LOW"] == pytest.approx(float(rb["lambda"].min()))
    changed = {k for k in ha if k != "" and ha[k] != hb.get(k)}
    assert changed == {"ESO DRS MUSE PIXTABLE LIMITS LAMBDA LOW", "ESO DRS MUSE PIXTABLE LIMITS LAMBDA HIGH"}


@pytest.mark.interop
@pytest.mark.skipif(not drs.esorex_available(), reason=f"MUSE pipeline unavailable: {drs.unavailable_reason()}")
def test_with_columns_output_loads_in_the_pipeline(table: Path, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.fits"
    with pixtab.open(table) as pt:
        sel = pt.select(ifu=12, lam=(6000, 6100))
        data = sel.read(["data"])["data"]
        sel.with_columns(data=data + 1).write(fixed)
    back = drs.read_columns(drs.roundtrip(fixed, tmp_path))
    np.testing.assert_array_equal(back["data"], data + np.float32(1))
    assert fits.getdata(drs.make_cube(fixed, tmp_path), 1).ndim == 3


def test_measurements_match_the_commands(table: Path, tmp_path: Path) -> None:
    run("image", table, "-o", tmp_path / "white.fits", "--lambda", "6000:6100")
    run("spectrum", table, "--circle", RA, DEC, "1.5", "--bin", "25", "-o", tmp_path / "spec.fits")
    fit_csv = run("fit", table, "--circle", RA, DEC, "2", "--lambda", "6000:6100")
    run("extract", table, "-o", tmp_path / "star.fits", *STAR)
    run("reconstruct-det", tmp_path / "star.fits", "-o", tmp_path / "det.fits", "--ifu", "12")
    with pixtab.open(table) as pt:
        image = pt.select(lam=(6000, 6100)).image()
        spec = pt.select(circle=(RA, DEC, 1.5)).spectrum(bin=25)
        fit = pt.select(circle=(RA, DEC, 2.0), lam=(6000, 6100)).fit()
        det = pt.select(circle=(RA, DEC, 2.0), lam=(6000, 6100)).reconstruct_det(ifu=12)
    with fits.open(tmp_path / "white.fits") as want:
        assert len(image) == len(want)
        for a, b in zip(image, want):
            np.testing.assert_array_equal(a.data, b.data)
            assert a.header == b.header
    want_spec = AstropyTable.read(tmp_path / "spec.fits")
    for name in want_spec.colnames:
        np.testing.assert_array_equal(np.asarray(spec[name]), np.asarray(want_spec[name]), err_msg=name)
    want_fit = AstropyTable.read(fit_csv, format="ascii.csv")
    for name in ("fwhm", "peak", "flux", "rows"):
        assert np.asarray(fit[name])[0] == pytest.approx(float(want_fit[name][0]), rel=1e-9), name
    with fits.open(tmp_path / "det.fits") as want:
        np.testing.assert_array_equal(det["CHAN12"].data, want["CHAN12"].data)
        assert det["CHAN12"].header["CRVAL1"] == want["CHAN12"].header["CRVAL1"]


def test_combined_table_decode_and_exposures(combined: Path, tmp_path: Path) -> None:
    with pixtab.open(combined) as pt:
        sel = pt.select(exp=2, ifu=11)
        d = sel.decode()
        assert set(np.unique(d["exp"])) == {2} and set(np.unique(d["ifu"])) == {11}
        sel.write(tmp_path / "e2.fits")
    run("extract", combined, "-o", tmp_path / "cli.fits", "--exp", "2", "--ifu", "11")
    assert (tmp_path / "e2.fits").read_bytes() == (tmp_path / "cli.fits").read_bytes()


def test_rows_mask_and_region_criteria_match_the_commands(table: Path, tmp_path: Path) -> None:
    mask = sky_mask(tmp_path / "mask.fits")
    region = tmp_path / "r.reg"
    region.write_text(f"# Region file format: DS9\nfk5\ncircle({RA},{DEC},1.5\")\n")
    with pixtab.open(table) as pt:
        n_mask = pt.select(mask=mask).count()
        n_inv = pt.select(mask=mask, mask_invert=True).count()
        n_region = pt.select(region=region).count()
        star = pt.select(circle=(RA, DEC, 2.0))
        rows = star.rows
        assert pt.select(rows=rows).count() == rows.size
        flags = np.zeros(pt.nrows, dtype=bool)
        flags[rows] = True
        np.testing.assert_array_equal(pt.select(rows=flags).rows, rows)
        np.testing.assert_array_equal(pt.select(rows="1000:2000").rows, np.arange(1000, 2000))
        np.testing.assert_array_equal(pt.select(rows=range(5, 9)).rows, np.arange(5, 9))
        both = star.select(mask=mask)  # narrowed: one set of criteria
        assert both.criteria is not None
        n_both = both.count()
        with pytest.raises(pixtab.CriteriaError):
            pt.select(rows="9:3")
    def count(*args: object) -> int:
        return int(run("extract", table, "--count", *args))
    assert n_mask == count("--mask", mask) and n_inv == count("--mask", mask, "--mask-invert")
    assert 0 < n_mask and 0 < n_inv and n_mask + n_inv <= 400_000  # rows off the image are in neither
    assert n_region == count("--region", region) > 0
    assert n_both == count("--circle", RA, DEC, "2", "--mask", mask)
