"""The sky spectrum: per wavelength bin, the median and a robust spread of data over the sky rows.

The sky rows are the selected rows outside the sources (a mask image, region
shapes, or the sources :func:`auto_sources` finds): the median per bin is
MPDAF's old ``sky_ref`` idea, computed streaming in two or more passes with
the histograms of :mod:`.binstats` (exact to at most 0.05 of the spread).
Also per bin: the spread (half the 15.9-84.1 % range, a Gaussian's sigma),
the median's error (1.2533 spread / sqrt(rows)) and the rows used. Flagged
rows (dq != 0) are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...format.skyshapes import Discs
from .binstats import keyed_stats
from ...errors import CriteriaError, EmptySelectionError, InputError
from ...io.plan import PlanOptions
from ...io.scan import Scan
from ...io.criteria import Criteria
from ...io.table import PixTable
from ...progress import SILENT, Progress

FIELDS = ("lambda_lo", "lambda_hi", "lambda", "median", "spread", "median_err", "rows")
#: sources found by --auto are masked out to this many FWHM from their centre
AUTO_RADIUS_FWHM = 2.5
AUTO_MAX_SOURCES = 50


@dataclass
class SkySpectrum:
    lambda_lo: np.ndarray
    lambda_hi: np.ndarray
    median: np.ndarray
    spread: np.ndarray
    rows: np.ndarray
    unit: str | None
    width: float
    fallbacks: int

    @property
    def median_err(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.2533 * self.spread / np.sqrt(self.rows)

    def columns(self) -> dict[str, np.ndarray]:
        return {"lambda_lo": self.lambda_lo, "lambda_hi": self.lambda_hi, "lambda": 0.5 * (self.lambda_lo + self.lambda_hi),
                "median": self.median, "spread": self.spread, "median_err": self.median_err, "rows": self.rows}

    def units(self) -> dict[str, str]:
        u = self.unit or ""
        return {"lambda_lo": "Angstrom", "lambda_hi": "Angstrom", "lambda": "Angstrom", "median": u, "spread": u,
                "median_err": u, "rows": ""}


def make_sky(pt: PixTable, criteria: Criteria, width: float = 1.25, progress: Progress = SILENT,
             plan: PlanOptions | None = None) -> SkySpectrum:
    """The sky spectrum of the rows ``criteria`` select (give it the sources' complement)."""
    if not (width > 0 and math.isfinite(width)):
        raise CriteriaError(f"the bin width must be a positive number of Angstrom, not {width}", field="bin")
    span = criteria.lambda_span()
    anchor = span[0] if span is not None and math.isfinite(span[0]) else 0.0

    def reduce(batch):  # type: ignore[no-untyped-def]
        keys = np.floor((batch["lambda"].astype(np.float64) - anchor) / width).astype(np.int64)
        return keys, batch["data"].astype(np.float64)

    scan = Scan(pt, criteria, plan, progress)  # planned once, read once per pass

    def passes():  # type: ignore[no-untyped-def]
        return scan.stream(["lambda", "data"], reduce, phase="sky")

    st = keyed_stats(passes)
    if st.n.sum() == 0:
        raise EmptySelectionError(f"{pt.path}: no sky row (every row is selected out, inside a source or flagged)")
    lo = anchor + width * st.keys
    hi = lo + width
    if span is not None and math.isfinite(span[1]):
        hi = np.minimum(hi, span[1])
    return SkySpectrum(lo, hi, st.median, st.spread, st.n, pt.columns["data"].unit, width, st.fallbacks)


def auto_sources(pt: PixTable, criteria: Criteria, seeing: float, progress: Progress = SILENT,
                 plan: PlanOptions | None = None) -> tuple[Discs, float]:
    """Discs over the sources ``image --peaks`` finds on the white-light image of the selected
    rows: radius AUTO_RADIUS_FWHM x their median FWHM (``seeing`` when none is found); and that FWHM."""
    from ..measure.image import ImageRequest, make_image
    from ..measure.peaks import find_peaks

    im = make_image(pt, criteria, ImageRequest(0.2), progress, plan)
    peaks = find_peaks(im, AUTO_MAX_SOURCES, seeing)
    fwhm = float(np.median([p.fwhm_guess for p in peaks])) if peaks else seeing
    fwhm = min(max(fwhm, 0.5 * seeing), 3 * seeing)  # a blend or a hot spaxel must not set the radius
    return Discs([(p.ra, p.dec) for p in peaks], AUTO_RADIUS_FWHM * fwhm, "source(s) found"), fwhm


def to_hdulist(sky: SkySpectrum, cards: dict[str, object]) -> "object":
    from astropy.io import fits

    units = sky.units()
    cols = [fits.Column(name=k, format="K" if v.dtype.kind in "iu" else "D", unit=units[k] or None, array=v)
            for k, v in sky.columns().items()]
    hdu = fits.BinTableHDU.from_columns(cols, name="SKY")
    for k, v in cards.items():
        hdu.header[k] = v
    return fits.HDUList([fits.PrimaryHDU(), hdu])


def check_sky_positions(pt: PixTable, criteria: Criteria, auto: bool) -> None:
    """Sources need sky positions: refuse a pixel-unit table before any work."""
    if pt.wcs == "pixel" and (auto or criteria.sky_mask is not None or criteria.region is not None):
        raise InputError(pt.path, "pixel-unit table (positions in pixels, no sky coordinates): the sources of "
                                  "--mask, --region or --auto cannot be placed; give none (every row counts)")


def background_criteria(criteria: Criteria, extra: Discs | None = None) -> Criteria:
    """``criteria`` with its sky mask and regions (and ``extra`` discs) read as SOURCES: the rows
    outside all of them are selected."""
    import dataclasses

    from ...format.skyshapes import Outside

    shapes = [s for s in (criteria.sky_mask, criteria.region, extra) if s is not None]
    return dataclasses.replace(criteria, sky_mask=None, region=Outside(shapes) if shapes else None)


def background(pt: PixTable, criteria: Criteria, auto: bool, seeing: float, progress: Progress = SILENT,
               plan: PlanOptions | None = None) -> tuple[Criteria, str | None]:
    """The criteria of the background rows (outside the mask, the regions and, with ``auto``, the
    sources ``image --peaks`` finds), and what ``auto`` masked, to tell the user (None without it)."""
    check_sky_positions(pt, criteria, auto)
    if not auto:
        return background_criteria(criteria), None
    discs, fwhm = auto_sources(pt, criteria, seeing, progress, plan)
    return background_criteria(criteria, discs), f"--auto masks {discs.describe()} (median FWHM {fwhm:.2f} arcsec)"
