"""pixtab spectrum: sums, means, variances, rows and flagged rows against a numpy reference
bin by bin (both layouts, projected and positioned, combined tables, extract outputs, the
conformance set); FITS with units, CSV/TSV/JSON; errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from astropy.io import fits

from helpers.cli import invoke
from helpers.sources import CONFORMANCE_FILES, RA0, DEC0, STAR_KW, conformance, csv_records, in_circle, one_line_error, radec, read_columns


def reference(src, lo, hi, width, circle=None, keep_flagged=False):  # type: ignore[no-untyped-def]
    """Per bin of [lo + k w, lo + (k+1) w): sum, sum of stat, rows, flagged (numpy, float64)."""
    _, c = read_columns(src)
    lam = c["lambda"].astype(np.float64)
    m = (c["lambda"] >= lo) & (c["lambda"] < hi)
    if circle is not None:
        ra, dec = radec(src)
        m &= in_circle(ra, dec, *circle)
    good = m & ((c["dq"] == 0) | keep_flagged)
    flag = m & ~good
    nb = math.ceil((hi - lo) / width)
    k = np.floor((lam - lo) / width).astype(int)
    s = np.bincount(k[good], weights=c["data"][good].astype(np.float64), minlength=nb)
    v = np.bincount(k[good], weights=c["stat"][good].astype(np.float64), minlength=nb)
    n = np.bincount(k[good], minlength=nb)
    f = np.bincount(k[flag], minlength=nb)
    return s, v, n, f


def fits_spectrum(src, out, *args):  # type: ignore[no-untyped-def]
    invoke("spectrum", src, "-o", out, *args)
    with fits.open(out) as h:
        return h["SPECTRUM"].data.copy(), h["SPECTRUM"].columns


@pytest.mark.parametrize("layout", ["image", "table"])
@pytest.mark.parametrize("wcs", ["positioned", "projected"])
def test_bins_equal_numpy(simulated, tmp_path, layout, wcs) -> None:
    src = simulated(**STAR_KW, layout=layout, wcs=wcs)
    circle = (RA0, DEC0, 2.0)
    data, cols = fits_spectrum(src, tmp_path / "s.fits", "--circle", RA0, DEC0, "2", "--lambda", "6000:7000", "--bin", "2.5")
    s, v, n, f = reference(src, 6000, 7000, 2.5, circle)
    assert len(data) == 400
    assert np.allclose(data["sum"], s, rtol=1e-9, atol=1e-6)
    assert np.allclose(data["sum_var"], v, rtol=1e-9)
    assert np.array_equal(data["rows"], n) and np.array_equal(data["flagged"], f) and f.sum() > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.allclose(data["mean"], s / n, equal_nan=True) and np.allclose(data["mean_var"], v / n**2, equal_nan=True)
    assert np.allclose(data["lambda_lo"], 6000 + 2.5 * np.arange(400)) and data["lambda_hi"][-1] == 7000
    units = {c.name: c.unit for c in cols}
    assert units["lambda"] == "Angstrom" and units["sum"] == "10**(-20)*erg/s/cm**2/Angstrom"
    assert units["sum_var"] == "(10**(-20)*erg/s/cm**2/Angstrom)**2"


def test_keep_flagged_and_open_range(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    data, _ = fits_spectrum(src, tmp_path / "s.fits", "--keep-flagged", "--bin", "50")
    _, c = read_columns(src)
    assert data["rows"].sum() == len(c["dq"]) and data["flagged"].sum() == 0
    assert data["lambda_lo"][0] <= c["lambda"].min() < data["lambda_hi"][0]
    assert data["lambda_lo"][-1] <= c["lambda"].max() < data["lambda_hi"][-1]
    assert np.allclose(np.diff(data["lambda_lo"]), 50) and (data["lambda_lo"] % 50 == 0).all()


def test_text_outputs(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    args = ["--circle", RA0, DEC0, "1.5", "--lambda", "6000:6100"]
    r = invoke("spectrum", src, *args, code=None)
    recs = csv_records(r.stdout)
    assert r.exit_code == 0 and len(recs) == 80 and list(recs[0]) == [
        "lambda_lo", "lambda_hi", "lambda", "sum", "sum_var", "mean", "mean_var", "rows", "flagged"]
    s, v, n, f = reference(src, 6000, 6100, 1.25, (RA0, DEC0, 1.5))
    assert np.allclose([float(x["sum"]) for x in recs], s, rtol=1e-9, atol=1e-6)
    j = [json.loads(x) for x in invoke("spectrum", src, *args, "--json").stdout.splitlines()]
    assert len(j) == 80 and all((x["mean"] is None) == (x["rows"] == 0) for x in j)
    invoke("spectrum", src, *args, "-o", tmp_path / "s.tsv", "--format", "tsv")
    assert (tmp_path / "s.tsv").read_text().splitlines()[0].startswith("lambda_lo\tlambda_hi")
    assert invoke("spectrum", src, *args, "-o", "-").stdout == invoke("spectrum", src, *args).stdout


@pytest.mark.parametrize("exposures", [2, 3])
def test_combined_and_extracted(simulated, tmp_path, exposures) -> None:
    src = simulated(**STAR_KW, exposures=exposures)
    data, _ = fits_spectrum(src, tmp_path / "s.fits", "--circle", RA0, DEC0, "2", "--lambda", "5000:9000", "--bin", "10")
    s, v, n, f = reference(src, 5000, 9000, 10, (RA0, DEC0, 2.0))
    assert np.allclose(data["sum"], s, atol=1e-6) and np.array_equal(data["rows"], n)
    cut = tmp_path / "cut.fits"
    invoke("extract", src, "-o", cut, "--circle", RA0, DEC0, "2", "--lambda", "5000:9000")
    again, _ = fits_spectrum(cut, tmp_path / "c.fits", "--lambda", "5000:9000", "--bin", "10")
    assert np.allclose(again["sum"], data["sum"], atol=1e-6) and np.array_equal(again["flagged"], data["flagged"])


@pytest.mark.parametrize("name", CONFORMANCE_FILES)
def test_conformance_tables(tmp_path, name) -> None:
    src = conformance(name)
    data, _ = fits_spectrum(src, tmp_path / "s.fits", "--lambda", "4500:9500", "--bin", "25")
    s, v, n, f = reference(src, 4500, 9500, 25)
    assert np.allclose(data["sum"], s, rtol=1e-9, atol=1e-6) and np.array_equal(data["rows"], n)
    assert np.array_equal(data["flagged"], f)


@pytest.mark.parametrize("args", [["--bin", "0"], ["--bin", "-2"], ["--lambda", "x"], ["--format", "xml"]])
def test_usage_errors(simulated, args) -> None:
    invoke("spectrum", simulated(rows=20_000), *args, code=2)


def test_input_errors(simulated, tmp_path) -> None:
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    one_line_error(invoke("spectrum", bad, code=1), 1)
    one_line_error(invoke("spectrum", simulated(rows=20_000), "--lambda", "100:200", code=1), 1)


def test_where_filters_rows(simulated, tmp_path) -> None:
    """The shared --where row filter applies to the measuring commands too."""
    src = simulated(**STAR_KW)
    data, _ = fits_spectrum(src, tmp_path / "w.fits", "--lambda", "6000:7000", "--bin", "100", "--where", "data > 0")
    _, c = read_columns(src)
    m = (c["lambda"] >= 6000) & (c["lambda"] < 7000) & (c["dq"] == 0) & (c["data"] > 0)
    k = np.floor((c["lambda"][m].astype(np.float64) - 6000) / 100).astype(int)
    assert np.array_equal(data["rows"], np.bincount(k, minlength=10))
    assert np.allclose(data["sum"], np.bincount(k, weights=c["data"][m].astype(np.float64), minlength=10))
