"""pixtab image --kernel drizzle against the pipeline's drizzled cube (muse_scipost_make_cube),
collapsed over the band: the same fluxes at the stars, the same positions, no empty spaxel.

Marked ``interop``; skipped (and listed as skipped) when esorex is not installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from helpers import drs
from helpers.cli import invoke
from helpers.sources import STARS

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not drs.esorex_available(), reason=f"MUSE pipeline unavailable: {drs.unavailable_reason()}"),
]


def _star(image: np.ndarray, wcs: WCS, ra: float, dec: float) -> tuple[float, float]:
    """(sum within 1", distance in arcsec of the flux-weighted centre from (ra, dec))."""
    yy, xx = np.indices(image.shape)
    x0, y0 = wcs.world_to_pixel_values(ra, dec)
    scale = abs(wcs.pixel_scale_matrix[1, 1]) * 3600.0
    near = np.hypot(xx - x0, yy - y0) * scale < 1.0
    v = np.where(near & np.isfinite(image), image, 0.0)
    cx, cy = (xx * v).sum() / v.sum(), (yy * v).sum() / v.sum()
    return float(v.sum()), float(np.hypot(cx - x0, cy - y0) * scale)


def test_drizzled_image_matches_the_pipelines_cube(simulated, tmp_path: Path) -> None:
    src = simulated(full_density=True, lambda_range=(6000.0, 6100.0), ifus=[12, 13], sources=STARS)
    out = tmp_path / "d.fits"
    invoke("image", src, "-o", out, "--lambda", "6010:6090")
    params = {"resample": "drizzle", "pixfrac": "0.8,0.8", "dx": "0.2", "dy": "0.2", "dlambda": "1.25",
              "lambdamin": "6010", "lambdamax": "6090", "crsigma": "0", "filter": "none"}
    cube = drs.make_cube(src, tmp_path, params, fast=False, timeout=600)
    with fits.open(cube) as h:
        w3 = WCS(h["DATA"].header)
        lam = w3.spectral.pixel_to_world(np.arange(h["DATA"].data.shape[0])).to_value("Angstrom")
        with np.errstate(all="ignore"):
            theirs = np.nanmean(h["DATA"].data[(lam >= 6010) & (lam < 6090)], axis=0)
    ours = fits.getdata(out, "DATA")
    assert np.isfinite(ours[2:-2, 2:-2]).all()
    for s in STARS[:2]:
        (f1, d1), (f2, d2) = _star(ours, WCS(fits.getheader(out, "DATA")), s.ra, s.dec), _star(theirs, w3.celestial, s.ra, s.dec)
        assert f1 == pytest.approx(f2, rel=0.03)
        assert d1 < 0.05 and d2 < 0.05
