"""Which blocks of an index can hold rows meeting each criterion (exact, conservative).

Every function returns a boolean array over the index's blocks: False only
when no row of the block can pass the criterion's row test in
:mod:`pixtab.core.io.selection` (same float32 comparisons for wavelength;
sky bands padded well beyond float64 rounding). NaN never passes a test, so
a block whose values are all NaN (bounds NaN) is ruled out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from ..format.sky import SkyFrame
from ..format.slicer import stack_slices
from ..format import origin as org
from .index import TableIndex
from .criteria import Aperture, Criteria
from .selection import Selector, _ceil_bound

Range = tuple[float, float]


def _overlaps(lo: np.ndarray, hi: np.ndarray, ranges: Sequence[Range]) -> np.ndarray:
    """Blocks whose [lo, hi] meets some half-open range (compared in the bounds' dtype)."""
    out = np.zeros(lo.shape, dtype=bool)
    for a, b in ranges:
        m = np.ones(lo.shape, dtype=bool)
        if math.isfinite(a):
            m &= hi >= _ceil_bound(a, hi.dtype)
        if math.isfinite(b):
            m &= lo < _ceil_bound(b, lo.dtype)
        out |= m  # NaN bounds compare False: an all-NaN block never meets a finite bound
    return out


def _meets(lo: np.ndarray, hi: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Blocks whose [lo, hi] meets the closed band (NaN bounds never do)."""
    with np.errstate(invalid="ignore"):
        return (hi.astype(np.float64, copy=False) >= band[0]) & (lo.astype(np.float64, copy=False) <= band[1])


def lambda_blocks(index: TableIndex, ranges: Sequence[Range]) -> np.ndarray:
    return _overlaps(index.lo["lambda"], index.hi["lambda"], ranges)


def code_lut(criteria: Criteria) -> np.ndarray | None:
    """Which 11-bit (IFU, slice) codes the IFU/slice/stack criteria accept (AND-ed); None: all."""
    codes = np.arange(1 << 11)
    ifu, slc = codes >> org.IFU_SHIFT & org.IFU_MASK, codes & org.SLICE_MASK
    lut = np.ones(1 << 11, dtype=bool)
    given = False
    if criteria.ifus:
        lut &= np.isin(ifu, criteria.ifus)
        given = True
    if criteria.slices:
        lut &= np.isin(slc, criteria.slices)
        given = True
    if criteria.stacks:
        lut &= np.isin(slc, [s for st in criteria.stacks for s in stack_slices(st)])
        given = True
    return lut if given else None


def codes_blocks(index: TableIndex, lut: np.ndarray) -> np.ndarray:
    """Blocks whose code range [lo, hi] holds an accepted code."""
    cum = np.concatenate(([0], np.cumsum(lut)))
    lo = index.lo["code"].astype(np.int64)
    hi = index.hi["code"].astype(np.int64)
    return cum[hi + 1] - cum[lo] > 0


def ypix_blocks(index: TableIndex, ranges: Sequence[Range], zero_based: bool) -> np.ndarray:
    shift = 1 if zero_based else 0
    lo = index.lo["y"].astype(np.int64) - shift
    hi = index.hi["y"].astype(np.int64) - shift
    return _overlaps(lo, hi, ranges)


def xpos_band(frame: SkyFrame, ap: Aperture) -> tuple[float, float, float] | None:
    """(centre, half width, period) of the xpos values an aperture can take; None: any.

    positioned: xpos = RA - CRVAL1 and the test wraps RA differences, so the
    band repeats every 360 deg; pixel: xpos is the x pixel. Projected tables
    (xpos = native longitude) get no xpos band.
    """
    if frame.is_pixel:
        return ap.ra, ap.size * (1 + 1e-9) + 1e-6, 0.0
    if frame.wcs != "positioned":
        return None
    cosd = math.cos(math.radians(ap.dec))
    if cosd <= 1e-6:
        return None
    half = ap.size / 3600.0 / cosd
    if half >= 90.0:
        return None
    centre = (ap.ra - frame.ra0 + 180.0) % 360.0 - 180.0
    return centre, half * (1 + 1e-6) + 1e-9, 360.0


def _xpos_blocks(lo: np.ndarray, hi: np.ndarray, band: tuple[float, float, float]) -> np.ndarray:
    """Which blocks with xpos in [lo, hi] (float64) may hold a row of the band."""
    centre, half, period = band
    with np.errstate(invalid="ignore"):
        if not period:
            return (hi >= centre - half) & (lo <= centre + half)
        # Is there an integer k with [centre - half, centre + half] + k * period meeting [lo, hi]?
        k_lo = np.ceil((lo - centre - half) / period)
        k_hi = np.floor((hi - centre + half) / period)
        return (k_lo <= k_hi) | (hi - lo >= period)


def sky_blocks(index: TableIndex, selector: Selector, apertures: Sequence[Aperture]) -> np.ndarray:
    """Blocks that may hold a row inside one of the apertures.

    Each aperture's xpos test runs on the blocks of its ypos band only (a catalogue's
    hundred apertures would otherwise each test every block of the table)."""
    frame = SkyFrame.of(selector.pt)
    out = np.zeros(index.nblocks, dtype=bool)
    valid = ~np.isnan(index.lo["xpos"]) & ~np.isnan(index.lo["ypos"])
    ylo, yhi = index.lo["ypos"].astype(np.float64), index.hi["ypos"].astype(np.float64)
    xlo = xhi = None
    for ap in apertures:
        yband = selector._ypos_band(ap)  # the selection pass's own ypos pre-filter
        at = np.flatnonzero(valid if yband is None else valid & _meets(ylo, yhi, (float(yband[0]), float(yband[1]))))
        xband = xpos_band(frame, ap)
        if xband is not None and at.size:
            if xlo is None:
                xlo, xhi = index.lo["xpos"].astype(np.float64), index.hi["xpos"].astype(np.float64)
            at = at[_xpos_blocks(xlo[at], xhi[at], xband)]  # type: ignore[index]
        out[at] = True
    return out


def exposure_blocks(index: TableIndex, selector: Selector, exps: Sequence[int]) -> np.ndarray:
    """Blocks that overlap the rows of a selected exposure."""
    starts = np.arange(index.nblocks, dtype=np.int64) * index.block
    stops = np.minimum(starts + index.block, index.nrows)
    out = np.zeros(starts.shape, dtype=bool)
    for a, b, exp in selector.exposures.runs(0, index.nrows):
        if exp in exps:
            out |= (starts < b) & (stops > a)
    return out


#: Criteria fields the planner reads (or that do not select rows); any other field
#: set to something (a criterion added later) counts as a criterion nothing bounds
_KNOWN = {
    "apertures", "lambdas", "ifus", "slices", "stacks", "xpix", "ypix", "exps", "method",
    "zero_based", "where", "slice_numbering", "rows",  # rows: row spans, cut in plan_rows
    "sky_mask", "region",  # their sky box, as an enclosing circle
}  # fmt: skip


def sky_shapes(c: Criteria) -> list:
    """The sky mask and region criteria given (objects with ``box()``)."""
    return [s for s in (getattr(c, "sky_mask", None), getattr(c, "region", None)) if s is not None]


def unbounded(c: Criteria) -> bool:
    """Is a criterion given that no bound here can rule rows out for (row filters, detector x,
    criteria the planner does not know)?"""
    unknown = any(getattr(c, f.name) for f in dataclasses.fields(c) if f.name not in _KNOWN)
    rows_or = getattr(c, "rows", None) is not None and c.method == "or"  # rows are cut only when AND-ed
    return bool(getattr(c, "where", ()) or c.xpix or unknown or rows_or)


def candidate_blocks(index: TableIndex, selector: Selector) -> np.ndarray:
    """Blocks that may hold a selected row: per-criterion masks AND-ed or OR-ed like the tests."""
    c = selector.criteria
    masks: list[np.ndarray] = []
    lut = code_lut(c) if c.method == "and" else None
    if lut is not None:
        masks.append(codes_blocks(index, lut))
    elif c.method == "or":
        for name, values in (("ifus", c.ifus), ("slices", c.slices), ("stacks", c.stacks)):
            if values:
                masks.append(codes_blocks(index, code_lut(Criteria(**{name: values}))))  # type: ignore[arg-type]
    if c.lambdas:
        masks.append(lambda_blocks(index, c.lambdas))
    if c.ypix:
        masks.append(ypix_blocks(index, c.ypix, c.zero_based))
    if unbounded(c):
        masks.append(np.ones(index.nblocks, dtype=bool))  # e.g. detector x, row filters
    if c.apertures:
        masks.append(sky_blocks(index, selector, c.apertures))
    for shape in sky_shapes(c):
        circle = shape.box().enclosing_circle()
        ap = [Aperture("circle", *circle, plain=False)] if circle is not None else None
        masks.append(sky_blocks(index, selector, ap) if ap else np.ones(index.nblocks, dtype=bool))
    if c.exps is not None:
        masks.append(exposure_blocks(index, selector, c.exps))
    if not masks:
        return np.ones(index.nblocks, dtype=bool)
    combine = np.logical_and if c.method == "and" else np.logical_or
    return combine.reduce(masks)
