"""pixtab image: flux conservation, WCS (astropy round trip, sources on their spaxel),
statistics, variance, flagged rows, pixel tables, both layouts, combined tables, extract
outputs, the conformance set, and errors with their exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from helpers.cli import invoke
from helpers.sources import CONFORMANCE_FILES, STAR_KW, STARS, conformance, one_line_error, radec, read_columns


def image(src: Path, out: Path, *args: object) -> fits.HDUList:
    """The image file; the nearest kernel unless ``args`` name one (these tests check exact binning)."""
    kernel = () if "--kernel" in args else ("--kernel", "nearest")
    invoke("image", src, "-o", out, *kernel, *args)
    return fits.open(out)


def selected(path: Path, lo: float = -np.inf, hi: float = np.inf, keep_flagged: bool = False) -> dict[str, np.ndarray]:
    _, cols = read_columns(path)
    m = (cols["lambda"] >= lo) & (cols["lambda"] < hi)
    if not keep_flagged:
        m &= cols["dq"] == 0
    return {k: v[m] for k, v in cols.items()}


@pytest.mark.parametrize("layout", ["image", "table"])
@pytest.mark.parametrize("wcs", ["positioned", "projected"])
def test_total_flux_and_rows(simulated, tmp_path, layout, wcs) -> None:
    src = simulated(**STAR_KW, layout=layout, wcs=wcs)
    with image(src, tmp_path / "i.fits", "--stat", "sum", "--lambda", "6000:6100") as h:
        ref = selected(src, 6000, 6100)
        assert np.nansum(h["DATA"].data.astype(np.float64)) == pytest.approx(ref["data"].astype(np.float64).sum(), rel=1e-6)
        assert h["NROWS"].data.sum() == len(ref["data"]) == h["DATA"].header["HIERARCH PIXTAB IMAGE ROWS"]
        assert np.isnan(h["DATA"].data[h["NROWS"].data == 0]).all()
        _, cols = read_columns(src)
        m = (cols["lambda"] >= 6000) & (cols["lambda"] < 6100)
        assert h["DATA"].header["HIERARCH PIXTAB IMAGE FLAGGED"] == int((cols["dq"][m] != 0).sum())


@pytest.mark.parametrize("wcs", ["positioned", "projected"])
def test_wcs_round_trip_and_rows_on_their_spaxel(simulated, tmp_path, wcs) -> None:
    src = simulated(**STAR_KW, wcs=wcs)
    with image(src, tmp_path / "i.fits", "--stat", "sum") as h:
        w = WCS(h["DATA"].header)
        assert w.has_celestial and h["DATA"].header["CD1_1"] < 0 < h["DATA"].header["CD2_2"]  # east left, north up
        counts = h["NROWS"].data
    ra, dec = radec(src)
    ok = selected(src)
    _, cols = read_columns(src)
    good = cols["dq"] == 0
    ra, dec = ra[good][::37], dec[good][::37]
    px, py = w.all_world2pix(ra, dec, 0)
    back_ra, back_dec = w.all_pix2world(px, py, 0)
    assert np.abs(((back_ra - ra + 180) % 360 - 180) * np.cos(np.radians(dec))).max() * 3600 < 0.01
    assert np.abs(back_dec - dec).max() * 3600 < 0.01
    # each row lies within its spaxel (+-0.5 pixel, float32 positions aside) and that spaxel counts it
    col, row = np.round(px).astype(int), np.round(py).astype(int)
    assert (np.abs(px - col) < 0.5 + 1e-4).all() and (counts[row, col] > 0).all()
    assert len(ok["data"]) == counts.sum()


def test_sources_land_on_their_spaxel(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    with image(src, tmp_path / "i.fits") as h:
        w, data = WCS(h["DATA"].header), h["DATA"].data
    for s in STARS:
        x, y = w.all_world2pix([[s.ra, s.dec]], 0)[0]
        c, r = int(round(x)), int(round(y))
        box = data[r - 3 : r + 4, c - 3 : c + 4]
        peak = np.unravel_index(np.nanargmax(box), box.shape)
        assert abs(peak[0] - 3) <= 1 and abs(peak[1] - 3) <= 1


def test_statistics_and_variance(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    with image(src, tmp_path / "s.fits", "--stat", "sum", "--variance") as hs, image(
        src, tmp_path / "m.fits", "--stat", "mean", "--variance"
    ) as hm, image(src, tmp_path / "w.fits", "--stat", "wmean", "--variance") as hw, image(
        src, tmp_path / "v.fits", "--stat", "sum", "--column", "stat"
    ) as hv:
        n = hs["NROWS"].data
        used = n > 0
        assert np.allclose(hm["DATA"].data[used], hs["DATA"].data[used] / n[used], rtol=1e-5)
        assert np.allclose(hs["STAT"].data[used], hv["DATA"].data[used], rtol=1e-5)
        assert np.allclose(hm["STAT"].data[used], hv["DATA"].data[used] / n[used] ** 2, rtol=1e-5)
        assert (hw["STAT"].data[used] <= hv["DATA"].data[used] / n[used] * (1 + 1e-5)).all()  # 1/sum(1/var) <= mean var / n
        assert hv["DATA"].header["BUNIT"].startswith("(") and hs["STAT"].header["BUNIT"].endswith(")**2")


def test_keep_flagged(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    with image(src, tmp_path / "a.fits") as a, image(src, tmp_path / "b.fits", "--keep-flagged") as b:
        _, cols = read_columns(src)
        assert a["NROWS"].data.sum() == int((cols["dq"] == 0).sum())
        assert b["NROWS"].data.sum() == len(cols["dq"])


def test_spaxel_size(simulated, tmp_path) -> None:
    src = simulated(**STAR_KW)
    with image(src, tmp_path / "a.fits") as a, image(src, tmp_path / "b.fits", "--spaxel", "0.4") as b:
        assert b["DATA"].header["CD2_2"] == pytest.approx(0.4 / 3600)
        assert b["NROWS"].data.sum() == a["NROWS"].data.sum()
        assert b["DATA"].data.shape[0] == pytest.approx(a["DATA"].data.shape[0] / 2, abs=1)


def test_pixel_table_has_no_celestial_wcs(simulated, tmp_path) -> None:
    src = simulated(rows=100_000, ifus=[1], wcs="pixel")
    r = invoke("image", src, "-o", tmp_path / "p.fits", "--kernel", "nearest")
    assert "without a celestial WCS" in r.output
    with fits.open(tmp_path / "p.fits") as h:
        assert h["DATA"].header["CTYPE1"] == "LINEAR" and not WCS(h["DATA"].header).has_celestial
        assert h["NROWS"].data.sum() == len(selected(src)["data"])


@pytest.mark.parametrize("exposures", [2, 3])
def test_combined_and_extracted(simulated, tmp_path, exposures) -> None:
    src = simulated(**STAR_KW, exposures=exposures)
    with image(src, tmp_path / "all.fits", "--stat", "sum") as h:
        assert np.nansum(h["DATA"].data.astype(float)) == pytest.approx(selected(src)["data"].astype(float).sum(), rel=1e-6)
    with image(src, tmp_path / "e2.fits", "--stat", "sum", "--exp", "2") as h:
        _, cols = read_columns(src)
        first = fits.getheader(src)["HIERARCH ESO DRS MUSE PIXTABLE EXP2 FIRST"]
        last = fits.getheader(src)["HIERARCH ESO DRS MUSE PIXTABLE EXP2 LAST"]
        assert h["NROWS"].data.sum() == int((cols["dq"][first : last + 1] == 0).sum())
    cut = tmp_path / "star.fits"
    invoke("extract", src, "-o", cut, "--circle", STARS[0].ra, STARS[0].dec, "2", "--lambda", "6000:6100")
    with image(cut, tmp_path / "cut.fits", "--stat", "sum") as h:
        assert h["NROWS"].data.sum() == len(selected(cut)["data"])


@pytest.mark.parametrize("name", CONFORMANCE_FILES)
def test_conformance_tables(tmp_path, name) -> None:
    src = conformance(name)
    with image(src, tmp_path / "c.fits", "--stat", "sum") as h:
        ref = selected(src)
        assert h["NROWS"].data.sum() == len(ref["data"])
        assert np.nansum(h["DATA"].data.astype(float)) == pytest.approx(ref["data"].astype(float).sum(), rel=1e-5, abs=1e-3)
        assert WCS(h["DATA"].header).has_celestial == ("pixel" not in name)


def test_same_image_for_both_layouts(tmp_path) -> None:
    a, b = conformance("pt_projected_image.fits"), conformance("pt_projected_bintable.fits")
    with image(a, tmp_path / "a.fits") as ha, image(b, tmp_path / "b.fits") as hb:
        assert np.array_equal(ha["DATA"].data, hb["DATA"].data, equal_nan=True)


@pytest.mark.parametrize(
    "args",
    [["--stat", "median"], ["--spaxel", "-1"], ["--spaxel", "big"], ["--column", "lambda"], ["--lambda", "7000:6000"]],
)
def test_usage_errors(simulated, tmp_path, args) -> None:
    r = invoke("image", simulated(rows=20_000), "-o", tmp_path / "x.fits", *args, code=2)
    assert not (tmp_path / "x.fits").exists()


def test_nothing_to_do_is_usage_error(simulated) -> None:
    invoke("image", simulated(rows=20_000), code=2)


def test_input_errors(simulated, tmp_path) -> None:
    bad = tmp_path / "bad.fits"
    bad.write_text("not fits")
    one_line_error(invoke("image", bad, "-o", tmp_path / "x.fits", code=1), 1)
    src = simulated(rows=20_000)
    out = tmp_path / "exists.fits"
    out.write_text("x")
    one_line_error(invoke("image", src, "-o", out, code=1), 1)
    assert out.read_text() == "x"
    line = one_line_error(invoke("image", src, "-o", tmp_path / "y.fits", "--lambda", "1000:2000", code=1), 1)
    assert "no row" in line and not (tmp_path / "y.fits").exists()


def test_missing_column_is_an_input_error(simulated, tmp_path) -> None:
    line = one_line_error(invoke("image", simulated(rows=20_000), "-o", tmp_path / "w.fits", "--column", "weight", code=1), 1)
    assert "--column" in line and "no weight column" in line


def test_drizzle_keeps_flux_and_fills_a_narrow_band(simulated, tmp_path) -> None:
    """Each row's drop is spread over the spaxels it overlaps by the fraction each holds: the
    sum image keeps the flux, and a 100 A band has no empty spaxel inside the field where the
    nearest kernel leaves holes (rows sample the sky on a grid that is not the image's)."""
    src = simulated(**STAR_KW)
    ref = selected(src, 6000, 6100)
    with image(src, tmp_path / "d.fits", "--kernel", "drizzle", "--stat", "sum", "--lambda", "6000:6100") as h:
        assert np.nansum(h["DATA"].data.astype(np.float64)) == pytest.approx(ref["data"].astype(np.float64).sum(), rel=1e-5)
        assert h["NROWS"].data.sum() >= len(ref["data"])  # a row touches one to four spaxels
    dense = simulated(full_density=True, lambda_range=(6000.0, 6100.0), ifus=[12, 13], sources=STARS)
    with image(dense, tmp_path / "m.fits", "--kernel", "drizzle", "--spaxel", "0.1arcsec") as h:
        assert np.isfinite(h["DATA"].data[3:-3, 3:-3]).all()
    with image(dense, tmp_path / "n.fits", "--kernel", "nearest", "--spaxel", "0.1arcsec") as h:
        assert np.isnan(h["DATA"].data[3:-3, 3:-3]).mean() > 0.5  # 0.1" spaxels under rows 0.2" apart: holes


def test_opens_in_mpdaf_as_it_is(simulated, tmp_path) -> None:
    """MUSE's DATA/STAT layout: MPDAF's Image(path) finds the data, its variance and WCS without ext=."""
    numpy_nan = getattr(np, "NaN", None)
    np.NaN = np.nan  # type: ignore[attr-defined]  # mpdaf 3.6 still names it
    mpdaf_obj = pytest.importorskip("mpdaf.obj")
    src = simulated(**STAR_KW)
    out = tmp_path / "w.fits"
    invoke("image", src, "-o", out, "--variance", "--lambda", "6000:6100")
    im = mpdaf_obj.Image(str(out))
    with fits.open(out) as h:
        assert h[0].data is None and [x.name for x in h] == ["PRIMARY", "DATA", "STAT", "NROWS"]
        assert np.array_equal(im.data.filled(np.nan), h["DATA"].data, equal_nan=True)
        assert np.allclose(im.var.filled(np.nan), h["STAT"].data, equal_nan=True)
    dec, ra = im.wcs.pix2sky([[0, 0]])[0]
    ref = WCS(fits.getheader(out, "DATA")).pixel_to_world_values(0, 0)
    assert abs(ra - ref[0]) < 1e-9 and abs(dec - ref[1]) < 1e-9
    if numpy_nan is None:
        del np.NaN  # type: ignore[attr-defined]
