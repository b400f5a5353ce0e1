"""Sky images for tests: masks around a position (MPDAF mask_column, --mask, pixtab mask)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

RA, DEC = 150.1163, 2.2058


def sky_mask(path: Path, n: int = 200, r_pix: float = 10) -> Path:
    """A 0.2"/pixel TAN image around (RA, DEC): 1 inside a disc of ``r_pix`` pixels, 0 outside."""
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [RA, DEC]
    w.wcs.crpix = [n / 2 + 0.5, n / 2 + 0.5]
    w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    y, x = np.mgrid[:n, :n]
    data = (((x - n / 2 + 0.5) ** 2 + (y - n / 2 + 0.5) ** 2) < r_pix**2).astype(np.int16)
    fits.PrimaryHDU(data, header=w.to_header()).writeto(path)
    return path


def mask_image(path: Path, centre: tuple[float, float] = (45.0, 28.0), radius: float = 12.0) -> Path:
    """An 80 x 60 sky image (0.2"/pixel, TAN about the pointing) with one circular object = 1."""
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [RA, DEC]
    w.wcs.crpix = [40.5, 30.5]
    w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    yy, xx = np.mgrid[:60, :80]
    data = ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 < radius**2).astype(np.int16)
    fits.PrimaryHDU(data, w.to_header()).writeto(path)
    return path
