"""pixtab fit: injected Gaussian and Moffat stars recovered (FWHM within 2 %, centre within
0.03"), FWHM against wavelength with a seeing slope, honest errors over 50 noise draws, the
seed's 10x10 check, rows used, layouts, combined tables, extract outputs, conformance, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from helpers.cli import invoke
from helpers.sources import CONFORMANCE_FILES, DEC0, RA0, STAR_KW, STARS, conformance, csv_records, in_circle, one_line_error, radec, read_columns, sep_arcsec
from pixtab.core.ops.simulate.tables import LAMBDA_REF, SimSource

STAR = STARS[0]


def fit(src, *args):  # type: ignore[no-untyped-def]
    r = invoke("fit", src, "--json", *args)
    return [json.loads(line) for line in r.stdout.splitlines()]


@pytest.mark.parametrize("layout", ["image", "table"])
@pytest.mark.parametrize("wcs", ["positioned", "projected"])
def test_gaussian_star(simulated, layout, wcs) -> None:
    src = simulated(**STAR_KW, layout=layout, wcs=wcs)
    whole = fit(src, "--circle", STAR.ra, STAR.dec, "2", "--lambda", "6000:6100")[0]
    assert whole["bin"] == "all" and whole["status"] == "ok"
    assert whole["fwhm"] == pytest.approx(STAR.fwhm, rel=0.02)
    assert sep_arcsec(whole["ra"], whole["dec"], STAR.ra, STAR.dec) < 0.03
    assert math.hypot(whole["dx"], whole["dy"]) < 0.03
    assert whole["peak"] == pytest.approx(STAR.peak, rel=0.02)
    sigma = STAR.fwhm / (2 * math.sqrt(2 * math.log(2)))
    assert whole["flux"] == pytest.approx(2 * math.pi * STAR.peak * sigma**2 / 0.04, rel=0.03)
    assert 0.7 < whole["chi2_red"] < 1.4


def test_moffat_star(simulated) -> None:
    src = simulated(rows=600_000, ifus=[12, 13], sources=[STAR], profile="moffat", beta=2.5)
    whole = fit(src, "--circle", STAR.ra, STAR.dec, "2.4", "--model", "moffat")[0]
    assert whole["fwhm"] == pytest.approx(STAR.fwhm, rel=0.02)
    assert whole["beta"] == pytest.approx(2.5, rel=0.05)
    assert sep_arcsec(whole["ra"], whole["dec"], STAR.ra, STAR.dec) < 0.03
    gauss = fit(src, "--circle", STAR.ra, STAR.dec, "2.4")[0]
    assert gauss["chi2_red"] > 2 * whole["chi2_red"]  # the wrong model shows in chi2


def test_fwhm_follows_the_seeing_slope(simulated) -> None:
    src = simulated(rows=600_000, ifus=[12, 13], sources=[STAR], seeing_slope=-0.2)
    res = fit(src, "--circle", STAR.ra, STAR.dec, "2", "--bins", "5")
    assert [r["bin"] for r in res] == ["all", "1", "2", "3", "4", "5"]
    for r in res[1:]:
        # the bin's FWHM is that at about its mean wavelength (the exponent is small)
        assert r["fwhm"] == pytest.approx(STAR.fwhm * (r["lambda"] / LAMBDA_REF) ** -0.2, rel=0.02)
        assert r["lambda_lo"] <= r["lambda"] < r["lambda_hi"]
    assert res[1]["fwhm"] > res[-1]["fwhm"]
    widths = fit(src, "--circle", STAR.ra, STAR.dec, "2", "--bin", "1000", "--lambda", "5000:8000")
    assert [(r["lambda_lo"], r["lambda_hi"]) for r in widths[1:]] == [(5000, 6000), (6000, 7000), (7000, 8000)]


def _rows_and_truth(src, model: str, beta: float = 2.5):  # type: ignore[no-untyped-def]
    from pixtab.core.ops.measure.fit import load_rows
    from pixtab.core.io.criteria import Aperture, Criteria
    from pixtab.core.io.table import PixTable

    with PixTable(str(src)) as pt:
        rows = load_rows(pt, Criteria(apertures=[Aperture("circle", STAR.ra, STAR.dec, 1.5)], lambdas=[(6000, 6200)]))
    r2 = rows.dx**2 + rows.dy**2
    if model == "moffat":
        gamma = STAR.fwhm / (2 * math.sqrt(2 ** (1 / beta) - 1))
        truth = 300.0 * (1 + r2 / gamma**2) ** -beta + 2.0
    else:
        truth = 300.0 * np.exp(-r2 / (2 * (STAR.fwhm / 2.3548) ** 2)) + 2.0
    return rows, truth


@pytest.mark.parametrize("warm", [False, True], ids=["from the guess", "from a sample's fit"])
@pytest.mark.parametrize("model", ["gaussian", "moffat"])
def test_errors_are_honest(simulated, model, warm, monkeypatch) -> None:
    """50 noise draws on the rows of a real aperture: the scatter of the fitted FWHM and
    centre agrees with the mean reported error within 30 %, also when the fit starts from
    the fit of a sample of the rows (as it does for 4 x 65,536 rows and more)."""
    from pixtab.core.ops.measure import psf
    from pixtab.core.ops.measure.psf import fit_psf

    rows, truth = _rows_and_truth(simulated(**STAR_KW), model)
    if warm:
        monkeypatch.setattr(psf, "WARM_ROWS", rows.dx.size // 8)
    fw, fe, xs, xe = [], [], [], []
    for seed in range(50):
        noisy = truth + np.random.default_rng(seed).standard_normal(truth.size) * np.sqrt(rows.stat)
        f = fit_psf(rows.dx, rows.dy, noisy, rows.stat, model, True, 0.8)
        fw.append(f.get("fwhm")); fe.append(f.err("fwhm")); xs.append(f.get("x")); xe.append(f.err("x"))
        assert 0.6 < f.chi2_red < 1.6
    assert np.std(fw, ddof=1) == pytest.approx(np.mean(fe), rel=0.3)
    assert np.std(xs, ddof=1) == pytest.approx(np.mean(xe), rel=0.3)
    assert abs(np.mean(fw) - STAR.fwhm) < 3 * np.mean(fe)  # no bias beyond the noise


def test_seed_check_10x10_gaussian() -> None:
    """The tutorial's check: a Gaussian of peak 2.0 and sigma 1.7 at (5, 5) on a 10x10 grid
    with noise is fitted back within the errors (it reports 1.977, 4.982, 4.949, 1.700)."""
    from pixtab.core.ops.measure.psf import fit_psf

    yy, xx = np.mgrid[0:10, 0:10].astype(float)
    truth = 2.0 * np.exp(-((xx - 5) ** 2 + (yy - 5) ** 2) / (2 * 1.7**2))
    noise = 0.05
    for seed in range(5):
        data = truth + np.random.default_rng(seed).normal(0, noise, truth.shape)
        f = fit_psf(xx.ravel(), yy.ravel(), data.ravel(), np.full(100, noise**2), "gaussian", False, 4.0)
        sigma, sigma_err = f.get("fwhm") / 2.3548, f.err("fwhm") / 2.3548
        for value, err, want in ((f.get("peak"), f.err("peak"), 2.0), (f.get("x"), f.err("x"), 5.0),
                                 (f.get("y"), f.err("y"), 5.0), (sigma, sigma_err, 1.7)):
            assert abs(value - want) < 4 * err


def test_rows_used_leave_out_flagged(simulated) -> None:
    src = simulated(**STAR_KW)
    res = fit(src, "--circle", STAR.ra, STAR.dec, "2", "--lambda", "6000:7000")[0]
    _, c = read_columns(src)
    ra, dec = radec(src)
    m = in_circle(ra, dec, STAR.ra, STAR.dec, 2) & (c["lambda"] >= 6000) & (c["lambda"] < 7000)
    assert res["rows"] == int((m & (c["dq"] == 0)).sum()) < int(m.sum())


@pytest.mark.parametrize("exposures", [2, 3])
def test_combined_and_extracted(simulated, tmp_path, exposures) -> None:
    src = simulated(**STAR_KW, exposures=exposures)
    a = fit(src, "--circle", STAR.ra, STAR.dec, "2", "--lambda", "6000:6500")[0]
    assert sep_arcsec(a["ra"], a["dec"], STAR.ra, STAR.dec) < 0.03 and a["fwhm"] == pytest.approx(STAR.fwhm, rel=0.02)
    cut = tmp_path / "cut.fits"
    invoke("extract", src, "-o", cut, "--circle", STAR.ra, STAR.dec, "2", "--lambda", "6000:6500")
    b = fit(cut)[0]  # no aperture: centred on the middle of the rows
    assert sep_arcsec(b["ra"], b["dec"], STAR.ra, STAR.dec) < 0.03 and b["fwhm"] == pytest.approx(a["fwhm"], rel=1e-3)


@pytest.mark.parametrize("name", [n for n in CONFORMANCE_FILES if "pixel" not in n])
def test_conformance_tables(name) -> None:
    """Each table's brightest source: a clean fit, or one error line (exit 1)."""
    r = invoke("fit", conformance(name), code=None)
    if r.exit_code == 0:
        rec = csv_records(r.stdout)[0]
        assert rec["status"] == "ok" and 0.3 < float(rec["fwhm"]) < 3
    else:
        one_line_error(r, 1)


def test_text_formats(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    args = ["--circle", STAR.ra, STAR.dec, "2", "--bins", "2"]
    recs = csv_records(invoke("fit", src, *args).stdout)
    assert [r["bin"] for r in recs] == ["all", "1", "2"] and "fwhm_err" in recs[0] and "beta" not in recs[0]
    assert invoke("fit", src, *args, "--format", "tsv").stdout.splitlines()[0].split("\t")[:3] == ["bin", "lambda_lo", "lambda_hi"]
    invoke("fit", src, *args, "-o", tmp_path / "f.csv")
    assert (tmp_path / "f.csv").read_text() == invoke("fit", src, *args).stdout
    m = fit(src, "--circle", STAR.ra, STAR.dec, "2", "--model", "moffat")[0]
    assert "beta" in m and "beta_err" in m


def test_no_background(simulated) -> None:
    res = fit(simulated(**STAR_KW), "--circle", STAR.ra, STAR.dec, "2", "--no-background")[0]
    assert res["background"] == 0 and res["background_err"] == 0 and res["fwhm"] == pytest.approx(STAR.fwhm, rel=0.02)


def test_failing_bin_is_reported_not_fatal(simulated) -> None:
    res = fit(simulated(**STAR_KW), "--circle", STAR.ra, STAR.dec, "2", "--lambda", "6000:6100", "--bins", "200")
    assert res[0]["status"] == "ok" and any(r["status"].startswith("too few rows") for r in res[1:])
    bad = [r for r in res[1:] if r["status"] != "ok"]
    assert all(r["fwhm"] is None for r in bad)


def test_errors(simulated) -> None:
    src = simulated(**STAR_KW)
    assert "too few rows" in one_line_error(invoke("fit", src, "--circle", STAR.ra, STAR.dec, "0.3", "--lambda", "6000:6100", code=1), 1)
    off = STAR.dec + 1.8 / 3600
    assert "aperture edge" in one_line_error(invoke("fit", src, "--circle", STAR.ra, off, "2", code=1), 1)
    empty = RA0 + 20 / 3600 / math.cos(math.radians(DEC0))  # blank sky
    one_line_error(invoke("fit", src, "--circle", empty, DEC0, "2", "--lambda", "6000:6100", code=1), 1)
    assert "pixel-unit" in one_line_error(invoke("fit", simulated(rows=50_000, ifus=[1], wcs="pixel"), code=1), 1)
    assert "no row" in one_line_error(invoke("fit", src, "--lambda", "100:200", code=1), 1)


@pytest.mark.parametrize("args", [["--bins", "2", "--bin", "10"], ["--bins", "0"], ["--bin", "-1"], ["--model", "airy"]])
def test_usage_errors(simulated, args) -> None:
    invoke("fit", simulated(rows=20_000), *args, code=2)


def test_two_apertures_refused(simulated) -> None:
    invoke("fit", simulated(**STAR_KW), "--circle", RA0, DEC0, "1", "--circle", RA0, DEC0, "2", code=2)


@pytest.mark.parametrize(("ra0", "dec0", "wcs"), [(0.0001, -30.0, "positioned"), (10.0, 89.99, "projected")])
def test_across_ra_zero_and_near_the_pole(simulated, ra0, dec0, wcs) -> None:
    star = SimSource((ra0 - 0.0002) % 360, dec0, 0.8, 3000.0)
    src = simulated(rows=400_000, ifus=[12, 13], ra=ra0, dec=dec0, wcs=wcs, sources=[star])
    res = fit(src, "--circle", star.ra, star.dec, "2")[0]
    assert 0 <= res["ra"] < 360 and sep_arcsec(res["ra"], res["dec"], star.ra, star.dec) < 0.03
    p = csv_records(invoke("image", src, "--peaks", "1").stdout)[0]
    assert sep_arcsec(float(p["ra"]), float(p["dec"]), star.ra, star.dec) < 0.1


def test_a_neighbour_in_the_aperture_is_masked_and_reported(simulated) -> None:
    """The default simulation has a source 2.9" from its brightest: fitted in a 4" aperture,
    the neighbour's rows are left out (one message says so) and the fit is good again."""
    src = simulated(rows=2_000_000)
    r = invoke("fit", src, "--circle", "150.1163", "2.2058", "4arcsec", "--lambda", "6000:7000", "--json")
    rec = json.loads(r.stdout.splitlines()[0])
    assert rec["chi2_red"] < 2.0 and abs(rec["fwhm"] - 0.8) < 0.01
    assert "light of 1 other source(s) in the aperture (peaking 2.9\" from the target)" in r.stderr


def test_fit_errors_name_the_file(simulated) -> None:
    src = simulated(**STAR_KW)
    line = one_line_error(invoke("fit", src, "--circle", STARS[0].ra, STARS[0].dec, "2", "--lambda", "6000:6001", code=1), 1)
    assert line.startswith(f"Error: {src}: too few rows to fit")
