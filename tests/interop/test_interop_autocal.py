"""The DRS self-calibration on a simulated table: muse_scipost autocalib=deepfield writes an
AUTOCAL_FACTORS table that pixtab autocal reads; the table pixtab autocal --merge writes, the
DRS applies (autocalib=user) exactly as it applied its own.

Findings (MUSE DRS 2.8.7): muse_scipost needs EXTINCT_TABLE and STD_RESPONSE (a flat
response of 0 mag and no extinction do); without a SKY_MASK it resamples the table to make
one (minutes); a slice and band gets a factor only with over 100 rows and over 20 detector
columns holding over 50 rows each, so the table must be dense (here one IFU, 4e6 rows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from helpers import drs
from helpers.cli import invoke

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not drs.esorex_available(), reason=f"MUSE pipeline unavailable: {drs.unavailable_reason()}"),
]

PARAMS = {"save": "individual,autocal", "skymethod": "none", "filter": "none"}


def calibrations(d: Path) -> list[tuple[Path, str]]:
    lam = np.arange(4000.0, 11001.0, 10.0)
    ext = fits.BinTableHDU.from_columns([fits.Column(name="lambda", format="D", unit="Angstrom", array=lam),
                                         fits.Column(name="extinction", format="D", unit="mag/airmass", array=0 * lam)])
    ext.writeto(d / "extinct.fits")
    resp = fits.BinTableHDU.from_columns([fits.Column(name="lambda", format="D", unit="Angstrom", array=lam),
                                          fits.Column(name="response", format="D", array=0 * lam),
                                          fits.Column(name="resperr", format="D", array=0 * lam + 0.01)])
    fits.HDUList([fits.PrimaryHDU(), resp]).writeto(d / "response.fits")
    # a sky mask in the DRS's pixel-table form (CTYPE PIXEL, CRVAL = lower-left xpos/ypos): all sky
    mask = fits.PrimaryHDU(np.ones((320, 320), dtype=np.uint8))
    for k, v in {"CTYPE1": "PIXEL", "CTYPE2": "PIXEL", "CUNIT1": "pixel", "CUNIT2": "pixel", "CRVAL1": -160.0,
                 "CRVAL2": -160.0, "CRPIX1": 1.0, "CRPIX2": 1.0, "CD1_1": 1.0, "CD2_2": 1.0, "CD1_2": 0.0, "CD2_1": 0.0}.items():
        mask.header[k] = v
    mask.writeto(d / "skymask.fits")
    return [(d / "extinct.fits", "EXTINCT_TABLE"), (d / "response.fits", "STD_RESPONSE"), (d / "skymask.fits", "SKY_MASK")]


def test_drs_autocal_factors_are_read_and_a_merged_table_applies(tmp_path: Path) -> None:
    src = tmp_path / "pt.fits"
    invoke("simulate", src, "--wcs", "pixel", "--ifus", "10", "--nrows", "4e6", "--slice-offsets", "0.03")
    cal = calibrations(tmp_path)
    deep = drs.run_recipe("muse_scipost", [(src, "PIXTABLE_OBJECT")], tmp_path / "deep", {**PARAMS, "autocalib": "deepfield"},
                          cal, timeout=600)
    factors = deep.product("AUTOCAL_FACTORS")
    reduced = deep.product("PIXTABLE_REDUCED")
    assert factors is not None and reduced is not None, deep.report("no AUTOCAL_FACTORS")
    r = invoke("autocal", factors)
    assert "20 band(s) 0-10000 Angstrom, 48 slice(s) with points" in r.output  # IFU 10's 48 slices
    with fits.open(factors) as h:
        corr = h[1].data["corr"].reshape(20, 24, 48)
        npts = h[1].data["npts"].reshape(20, 24, 48)
    assert (corr[:, 9] != 1).sum() > 500 and (npts[:, 9] > 100).all() and (corr[:, :9] == 1).all()
    merged = tmp_path / "merged.fits"
    invoke("autocal", factors, factors, "--merge", "-o", merged)
    user = drs.run_recipe("muse_scipost", [(src, "PIXTABLE_OBJECT")], tmp_path / "user", {**PARAMS, "autocalib": "user"},
                          [*cal, (merged, "AUTOCAL_FACTORS")], timeout=600)
    again = user.product("PIXTABLE_REDUCED")
    assert again is not None, user.report("no PIXTABLE_REDUCED")
    with fits.open(reduced) as a, fits.open(again) as b:
        assert a[0].header["HIERARCH ESO DRS MUSE PIXTABLE AUTOCAL"] == "slice-median"
        assert b[0].header["HIERARCH ESO DRS MUSE PIXTABLE AUTOCAL"] == "user"
        assert np.array_equal(a["DATA"].data, b["DATA"].data)
