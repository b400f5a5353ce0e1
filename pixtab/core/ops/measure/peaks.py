"""Sources in a sky image: smooth by the seeing, find local maxima, fit their centres.

photutils does the work: :func:`photutils.detection.find_peaks` on the image
convolved with a Gaussian of about the seeing's FWHM (above a threshold of a
few sigma-clipped standard deviations of that smoothed image), then
:func:`photutils.psf.fit_2dgaussian` on the unsmoothed, background-subtracted
image for each centre and FWHM. Results are ordered by fitted peak height,
brightest first. :func:`refine_on_rows` then measures each source again on
the rows around it (no binning), for sub-spaxel centres.

What is not a source: a maximum on a spaxel with less than half the median row
coverage, or within one seeing FWHM of the covered area's edge (where a few rows
or a cut PSF make spikes); a second maximum closer than the minimum separation
(default 1.5 x the seeing FWHM) to a brighter one, in the image or after the refit;
a candidate whose refit on the rows fails or lands farther than half its aperture
from the image estimate. These are dropped, not ranked.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, replace

import numpy as np

from .fit import sky_rows
from .image import SkyImage
from ..optional import require
from .psf import FitError, fit_psf
from ...errors import CriteriaError, PixtabError
from ...format.sky import SkyFrame
from ...io.criteria import Aperture, Criteria
from ...io.table import PixTable

log = logging.getLogger(__name__)

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
#: default minimum separation of two sources, in seeing FWHMs
SEPARATION_FWHM = 1.5
#: spaxels with fewer rows than this fraction of the median are too thinly covered to hold a peak
MIN_COVERAGE = 0.5


@dataclass(frozen=True)
class Peak:
    """One source: position (deg; pixels for pixel tables), image position (0-based),
    fitted peak height above the background (image units) and FWHM (arcsec; pixels)."""

    id: int
    ra: float
    dec: float
    x: float
    y: float
    peak: float
    fwhm_guess: float

    def as_dict(self) -> dict[str, float | int]:
        return {"id": self.id, "ra": self.ra, "dec": self.dec, "peak": self.peak, "fwhm_guess": self.fwhm_guess}


def searchable(im: SkyImage, fwhm_pix: float) -> np.ndarray:
    """Spaxels where a maximum may be a source: the rows around it (within a seeing FWHM)
    are at least MIN_COVERAGE of the usual, and it is at least one seeing FWHM inside the
    field (the covered area, its gaps closed)."""
    from scipy.ndimage import binary_closing, binary_erosion, binary_fill_holes, uniform_filter

    covered = im.nrows > 0
    if not covered.any():
        return covered
    r = max(1, int(math.ceil(fwhm_pix)))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disc = np.hypot(xx, yy) <= r
    field = binary_fill_holes(binary_closing(np.pad(covered, r), structure=disc))[r:-r, r:-r]
    inner = binary_erosion(field, structure=disc, border_value=0)
    around = uniform_filter(im.nrows.astype(float), size=2 * r + 1, mode="constant")
    usual = np.median(around[inner]) if inner.any() else 0.0
    return inner & (around >= MIN_COVERAGE * usual) & np.isfinite(im.image)


def find_peaks(im: SkyImage, n: int, seeing: float = 0.8, nsigma: float = 5.0, separation: float | None = None) -> list[Peak]:
    """Candidates for the ``n`` brightest sources of ``im``, brightest first (a few more than
    ``n``: :func:`refine_on_rows` drops the ones the rows do not confirm); ``seeing`` is a FWHM
    guess and ``separation`` the smallest distance between two sources, in arcsec (pixels)."""
    if n < 1:
        raise CriteriaError(f"the number of peaks must be at least 1, not {n}", field="peaks")
    if not seeing > 0:
        raise CriteriaError(f"the seeing FWHM must be positive, not {seeing}", field="seeing")
    separation = SEPARATION_FWHM * seeing if separation is None else separation
    if not separation >= 0:
        raise CriteriaError(f"the minimum separation must be >= 0, not {separation}", field="min_separation")
    require("photutils")
    from astropy.convolution import Gaussian2DKernel, convolve
    from astropy.stats import sigma_clipped_stats
    from photutils.detection import find_peaks as photutils_peaks
    from photutils.psf import fit_2dgaussian

    data = im.image
    finite = np.isfinite(data)
    if finite.sum() < 9:
        raise PixtabError("the image has fewer than 9 spaxels with rows: nothing to search")
    fwhm_pix = seeing / im.spaxel
    _, median, _ = sigma_clipped_stats(data[finite], sigma=3.0)
    sub = np.where(finite, data - median, np.nan)
    kernel = Gaussian2DKernel(max(fwhm_pix * FWHM_TO_SIGMA, 0.5))
    smooth = convolve(sub, kernel, nan_treatment="interpolate", preserve_nan=True)
    _, smed, sstd = sigma_clipped_stats(smooth[np.isfinite(smooth)], sigma=3.0)
    threshold = smed + nsigma * sstd
    box = max(3, 2 * int(math.ceil(fwhm_pix / 2)) + 1)
    # A few more candidates than asked: the fitted heights may reorder them.
    allowed = searchable(im, fwhm_pix) & np.isfinite(smooth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no local peaks": an empty answer says it
        found = photutils_peaks(
            np.nan_to_num(smooth, nan=-np.inf), threshold, box_size=box, mask=~allowed, n_peaks=max(3 * n, n + 10)
        )
    if found is None or len(found) == 0:
        return []
    xy = np.column_stack([np.asarray(found["x_peak"], float), np.asarray(found["y_peak"], float)])
    fit_shape = max(5, 2 * int(math.ceil(1.5 * fwhm_pix)) + 1)
    fit_shape = min(fit_shape, 2 * (min(data.shape) // 2) - 1) if min(data.shape) >= 5 else 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # photutils warns about sources near edges and masked pixels
        res = fit_2dgaussian(sub, xypos=xy, fwhm=fwhm_pix, fix_fwhm=False, fit_shape=fit_shape).results
    x, y = np.asarray(res["x_fit"], float), np.asarray(res["y_fit"], float)
    fwhm = np.abs(np.asarray(res["fwhm_fit"], float))
    flux = np.asarray(res["flux_fit"], float)
    height = flux / (2 * math.pi * (fwhm * FWHM_TO_SIGMA) ** 2)
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(height) & (height > 0) & (fwhm > 0)
    # Fits that wandered off their peak fall back on the peak position.
    off = np.hypot(x - xy[:, 0], y - xy[:, 1]) > max(2.0, fwhm_pix)
    # a fit that wandered off its peak is no source; nor one that lands where no source may be
    ok &= ~off
    inside = allowed[np.clip(np.rint(y).astype(int), 0, data.shape[0] - 1), np.clip(np.rint(x).astype(int), 0, data.shape[1] - 1)]
    ok &= inside
    order = apart([(float(x[i]), float(y[i])) for i in range(len(x))], np.where(ok, height, -np.inf), separation / im.spaxel)
    order = order[: max(3 * n, n + 10)]
    ra, dec = im.pixel_to_sky(x[order], y[order])
    return [
        Peak(k + 1, float(ra[k]), float(dec[k]), float(x[i]), float(y[i]), float(height[i]), float(fwhm[i] * im.spaxel))
        for k, i in enumerate(order)
    ]


def apart(xy: list[tuple[float, float]], strength: np.ndarray, separation: float) -> list[int]:
    """Indices by decreasing ``strength`` (finite ones only), each at least ``separation``
    from every stronger one kept: no source twice."""
    kept: list[int] = []
    for i in np.argsort(-strength):
        if np.isfinite(strength[i]) and all(math.hypot(xy[i][0] - xy[j][0], xy[i][1] - xy[j][1]) >= separation for j in kept):
            kept.append(int(i))
    return kept


def refine_on_rows(pt: PixTable, criteria: Criteria, peaks: list[Peak], spaxel_area: float, n: int | None = None,
                   separation: float = 0.0) -> list[Peak]:
    """Peaks re-measured on the rows themselves: a circular Gaussian fitted to the
    rows within 2 FWHM (at least 1 arcsec) of each image peak, in a second pass
    that reads only the rows of those apertures. Image binning moves a centre
    by up to half a spaxel; the rows do not. A candidate whose fit fails or lands
    far from its image estimate is dropped (one warning counts them), as is one
    closer than ``separation`` (arcsec) to a brighter one; the ``n`` brightest remain."""
    if not peaks:
        return peaks
    radii = [max(1.0, 2.0 * p.fwhm_guess) for p in peaks]
    apertures = [Aperture("circle", p.ra, p.dec, r, plain=True) for p, r in zip(peaks, radii)]
    sub = replace(criteria, apertures=apertures, method="and")
    cols, _ = sky_rows(pt, sub)
    frame = SkyFrame.of(pt)
    out: list[Peak] = []
    failed = 0
    for p, r in zip(peaks, radii):
        dx, dy = frame.offsets(cols["ra"], cols["dec"], p.ra, p.dec)
        near = dx**2 + dy**2 < r**2
        try:
            fit = fit_psf(dx[near], dy[near], cols["data"][near], cols["stat"][near], "gaussian", True, p.fwhm_guess, spaxel_area)
            x, y = fit.get("x"), fit.get("y")
            if math.hypot(x, y) > 0.5 * r:
                raise FitError("the fitted centre moved away from the peak")
        except FitError as exc:
            log.debug("candidate at %.6f %.6f dropped: %s", p.ra, p.dec, exc)
            failed += 1
            continue
        ra = (p.ra + x / (3600.0 * math.cos(math.radians(p.dec)))) % 360.0
        dec = p.dec + y / 3600.0
        out.append(Peak(p.id, ra, dec, p.x, p.y, fit.get("peak"), fit.get("fwhm")))
    if failed:
        log.info("%d candidate(s) dropped: their fit on the rows failed or left the image estimate", failed)
    cosd = math.cos(math.radians(out[0].dec)) if out else 1.0
    xy = [(p.ra * 3600.0 * cosd, p.dec * 3600.0) for p in out]
    order = apart(xy, np.array([p.peak for p in out], dtype=float), separation)[:n]
    return [replace(out[i], id=k + 1) for k, i in enumerate(order)]
