"""pixtab sky, slices and autocal: a known sky spectrum recovered within its noise (and what
masking the sources changes), injected slice offsets recovered, AUTOCAL_FACTORS tables in the
DRS's layout read, plotted and merged like MPDAF's merge_autocal_factors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.io import fits

from helpers.cli import invoke
from helpers.sources import DEC0, RA0, csv_records, one_line_error, read_columns
from pixtab.core.ops.simulate.skymodel import sky_spectrum, slice_factors
from pixtab.core.ops.simulate.tables import SimSource

COS = math.cos(math.radians(DEC0))
#: two extended sources that cover much of a two-IFU strip (4.8" tall)
WIDE = [SimSource(RA0, DEC0, 3.0, 400.0), SimSource(RA0 + 12.0 / 3600 / COS, DEC0, 2.5, 250.0)]
SKY_KW = dict(rows=400_000, ifus=[12, 13], keep_sky=True, sources=WIDE)


def sky_table(out, src, *args):  # type: ignore[no-untyped-def]
    invoke("sky", src, "-o", out, "--lambda", "6000:7000", "--bin", "5", *args)
    with fits.open(out) as h:
        return h["SKY"].data.copy()


def continuum_bins(sky) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Bins far from the simulated sky lines (where a median of sky + noise is the sky)."""
    lam = sky["lambda"]
    return np.abs((lam % 293.0) - 146.0) > 8.0


def test_sky_recovers_the_sky_spectrum_when_the_sources_are_masked(simulated, tmp_path) -> None:
    src = simulated(**SKY_KW)
    reg = tmp_path / "src.reg"
    reg.write_text("fk5\n" + "".join(f"circle({s.ra},{s.dec},{2.5 * s.fwhm}\")\n" for s in WIDE))
    masked = sky_table(tmp_path / "m.fits", src, "--region", reg)
    plain = sky_table(tmp_path / "p.fits", src)
    truth = sky_spectrum(masked["lambda"])  # the continuum is flat within a 5 Angstrom bin
    ok = continuum_bins(masked)
    assert ok.sum() > 150
    pull = (masked["median"] - truth)[ok] / masked["median_err"][ok]
    assert np.mean(np.abs(pull) < 4) > 0.99 and abs(np.mean(pull)) < 0.5  # within its noise, unbiased
    # the sources' light pulls the unmasked median up, in every bin: 2 errors per bin on average
    bias, off = np.mean((plain["median"] - truth)[ok]), np.mean((masked["median"] - truth)[ok])
    print(f"bias {bias:.3f} unmasked, {off:.3f} masked; error per bin {np.mean(masked['median_err'][ok]):.3f}")
    assert bias > 1.5 * np.mean(masked["median_err"][ok]) and abs(off) < 0.2 * bias
    assert np.mean(((plain["median"] - truth) / plain["median_err"])[ok]) > 1.5
    # the spread is the noise: sqrt(sky + 9) (the simulator's variance) within a few per cent
    assert np.allclose(np.median(masked["spread"][ok] / np.sqrt(truth[ok] + 9.0)), 1.0, atol=0.05)
    _, c = read_columns(src)
    assert masked["rows"].sum() < plain["rows"].sum() <= np.count_nonzero((c["lambda"] >= 6000) & (c["lambda"] < 7000))


def test_sky_auto_masks_the_sources_it_finds(simulated, tmp_path) -> None:
    pytest.importorskip("photutils")
    src = simulated(**SKY_KW)
    r = invoke("sky", src, "-o", tmp_path / "a.csv", "--lambda", "6000:7000", "--bin", "5", "--auto")
    assert "--auto masks" in r.output
    recs = csv_records((tmp_path / "a.csv").read_text())
    lam = np.array([float(x["lambda"]) for x in recs])
    med = np.array([float(x["median"]) for x in recs])
    err = np.array([float(x["median_err"]) for x in recs])
    ok = np.abs((lam % 293.0) - 146.0) > 8.0
    pull = (med - sky_spectrum(lam))[ok] / err[ok]
    assert abs(np.mean(pull)) < 1.0 and np.mean(np.abs(pull) < 4) > 0.97


def test_sky_png_and_errors(simulated, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    src = simulated(**SKY_KW)
    invoke("sky", src, "--lambda", "6500:6600", "--png", tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert "no sky row" in one_line_error(invoke("sky", src, "--lambda", "100:200", code=1), 1)
    pix = simulated(rows=20_000, wcs="pixel")
    assert "pixel-unit table" in one_line_error(invoke("sky", pix, "--auto", code=1), 1)
    invoke("sky", pix, "--lambda", "6000:6100")  # no sources: every row counts


def test_slices_recover_injected_offsets(simulated, tmp_path) -> None:
    kw = dict(rows=2_000_000, ifus=[3, 4], keep_sky=True)
    src = simulated(**kw, slice_offsets=0.03)
    out = tmp_path / "slices.fits"
    r = invoke("slices", src, "--lambda-bins", "4", "-o", out)
    assert r.output.startswith("slices measured: 96 in 4 band(s)")
    with fits.open(out) as h:
        t = h[1].data
        assert h[0].header["HIERARCH ESO DRS MUSE LAMBDA4 MAX"] > h[0].header["HIERARCH ESO DRS MUSE LAMBDA1 MIN"]
    assert len(t) == 4 * 1152 and list(t["quad"][:2]) == [1, 1] and t["ifu"][48] == 2  # the DRS's row order
    have = t["npts"] > 0
    assert set(np.unique(t["ifu"][have])) == {3, 4} and np.allclose(t["corr"][have], 1 / t["level"][have])
    level = np.median(t["level"].reshape(4, 24, 48)[:, 2:4], axis=0).ravel()  # per slice, over the bands
    truth = slice_factors(0, 0.03)[2:4].ravel()
    rel = truth / np.median(truth)
    print(f"correlation {np.corrcoef(level, rel)[0, 1]:.3f}, rms {np.std(level - rel):.4f} (offsets: {np.std(rel):.4f})")
    assert np.corrcoef(level, rel)[0, 1] > 0.95 and np.std(level - rel) < 0.3 * np.std(rel)
    r0 = invoke("slices", simulated(**kw), "--lambda-bins", "4")
    spread = float(r0.output.split("robust spread ")[1].split()[0])
    assert spread < 0.01 < float(r.output.split("robust spread ")[1].split()[0])


def drs_layout_table(path, corr, npts, edges, orig=None):  # type: ignore[no-untyped-def]
    """An AUTOCAL_FACTORS file written as the DRS writes it (muse_autocalib.c), with astropy alone."""
    nb = len(edges) - 1
    q, i, s = np.meshgrid(np.arange(1, nb + 1), np.arange(1, 25), np.arange(1, 49), indexing="ij")
    prim = fits.PrimaryHDU()
    prim.header["HIERARCH ESO PRO CATG"] = "AUTOCAL_FACTORS"
    for k in range(nb):
        prim.header[f"HIERARCH ESO DRS MUSE LAMBDA{k + 1} MIN"] = edges[k]
        prim.header[f"HIERARCH ESO DRS MUSE LAMBDA{k + 1} MAX"] = edges[k + 1]
    cols = [fits.Column(name=n, format="J", array=a.ravel()) for n, a in (("ifu", i), ("sli", s), ("quad", q), ("npts", npts))]
    cols += [fits.Column(name="corr", format="D", array=corr.ravel()),
             fits.Column(name="corr_orig", format="D", array=(orig if orig is not None else np.full(corr.shape, np.nan)).ravel())]
    fits.HDUList([prim, fits.BinTableHDU.from_columns(cols)]).writeto(path)
    return path


def test_autocal_reads_plots_and_merges(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from astropy.stats import sigma_clip

    rng = np.random.default_rng(3)
    edges = [0.0, 5000.0, 7000.0, 10000.0]
    corrs, paths = [], []
    for k in range(10):
        corr = 1 + 0.02 * rng.standard_normal((3, 24, 48))
        npts = np.full((3, 24, 48), 500)
        if k == 0:
            corr[1, 4, 7] = 5.0  # one outlier
            npts[2, 0, 0] = 0  # a factor from no point: left out of the merge
        orig = np.where(rng.random(corr.shape) < 0.01, corr + 0.1, np.nan)
        corrs.append(np.where(npts > 0, corr, np.nan))
        paths.append(drs_layout_table(tmp_path / f"a{k}.fits", corr, npts, edges, orig))
    r = invoke("autocal", *paths, "--merge", "-o", tmp_path / "m.fits", "--png", tmp_path / "m.png")
    assert r.output.splitlines()[0].startswith(f"{paths[0]}: 3 band(s) 0-10000 Angstrom, 1152 slice(s) with points")
    clipped = sigma_clip(np.ma.masked_invalid(np.array(corrs)), axis=0)
    with fits.open(tmp_path / "m.fits") as h:
        t = h[1].data
        assert h[0].header["HIERARCH ESO DRS MUSE LAMBDA3 MAX"] == 10000.0
    assert np.allclose(t["corr"], np.ma.mean(clipped, axis=0).filled(np.nan).ravel())
    assert np.allclose(t["std_corr"], np.ma.std(clipped, axis=0).filled(np.nan).ravel())
    k_out = 1152 * 1 + 48 * 4 + 7
    assert t["nrej"][k_out] == 1 and t["nkeep"][k_out] == 9 and t["nkeep"][1152 * 2] == 9
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    invoke("autocal", paths[0], "-o", tmp_path / "x.fits", code=2)
    bad = tmp_path / "nolambda.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column(name=n, format="J", array=[1])
                  for n in ("ifu", "sli", "quad", "corr")])]).writeto(bad)
    assert "LAMBDAq MIN/MAX" in one_line_error(invoke("autocal", bad, code=1), 1)
