"""Selection criteria evaluated on row chunks (format doc sections 6.3 and 7).

A :class:`~pixtab.core.io.criteria.Criteria` holds what the user asked for; :class:`Selector` binds it to
one open table (checking it against the table's state and keywords) and turns
it into a list of row tests, cheapest first. :meth:`Selector.select` evaluates
them on one chunk through a :class:`~pixtab.core.io.rowsource.RowSource`, which
reads columns lazily and only in the row blocks still needed, so that when criteria are AND-ed the
expensive sky test (and its column reads) run only on rows that survived the
cheap ones. With ``method='or'`` each test only looks at rows not yet selected.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import CriteriaError, InputError
from ..format import origin as org
from ..format.exposures import ExposureMap
from ..format.origin import DetectorDecoder
from ..format.sky import SkyFrame
from ..format.slicer import stack_slices
from . import masktests
from .criteria import Aperture, Criteria, Range
from .rowfilter import RowFilter
from .rowsource import RowSource, Scratch
from .table import PixTable

log = logging.getLogger(__name__)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


# -- row tests -----------------------------------------------------------------


@dataclass
class RowTest:
    """One criterion as a row test: ``run(src, idx) -> bool mask over idx``."""

    name: str
    columns: tuple[str, ...]
    cost: int
    run: Callable[[RowSource, np.ndarray | None], np.ndarray]


def _ceil_bound(bound: float, dtype: np.dtype) -> np.generic:
    """Smallest value of ``dtype`` >= ``bound``: for v of that dtype, v >= b and v < b
    are then exactly v >= c and v < c, so the comparison runs in the column's dtype."""
    if dtype.kind == "f":
        c = dtype.type(bound)
        return np.nextafter(c, dtype.type(np.inf)) if c < bound else c
    return dtype.type(max(np.iinfo(dtype).min, min(np.iinfo(dtype).max, math.ceil(bound))))


def _ranges_mask(values: np.ndarray, ranges: Sequence[Range], scratch: Scratch | None = None) -> np.ndarray:
    """lo <= v < hi for any half-open (lo, hi) in ``ranges`` (exact, whatever the dtype).

    With ``scratch`` the mask lives in its buffers: use it before the next call.
    """
    n = values.shape[0]
    buf = scratch.get if scratch is not None else (lambda slot, size, dtype: np.empty(size, dtype=dtype))
    out = buf("mask", n, bool)
    part = buf("mask part", n, bool)
    tmp = buf("mask tmp", n, bool)
    for i, (lo, hi) in enumerate(ranges):
        m = out if i == 0 else part
        if math.isfinite(lo) and math.isfinite(hi):
            np.greater_equal(values, _ceil_bound(lo, values.dtype), out=m)
            np.less(values, _ceil_bound(hi, values.dtype), out=tmp)
            m &= tmp
        elif math.isfinite(lo):
            np.greater_equal(values, _ceil_bound(lo, values.dtype), out=m)
        elif math.isfinite(hi):
            np.less(values, _ceil_bound(hi, values.dtype), out=m)
        else:
            m[:] = True
        if i:
            out |= part
    return out


_MAPS: weakref.WeakKeyDictionary[PixTable, tuple[ExposureMap, DetectorDecoder]] = weakref.WeakKeyDictionary()


def _table_maps(pt: PixTable) -> tuple[ExposureMap, DetectorDecoder]:
    """The exposure map and detector decoder of a table, made once (a catalogue makes
    a selector per source)."""
    if pt not in _MAPS:
        exposures = ExposureMap(pt.keywords.exposures, pt.nrows)
        _MAPS[pt] = (exposures, DetectorDecoder(exposures, pt.keywords.xoffsets, pt.path))
    return _MAPS[pt]


class Selector:
    """Criteria bound to one table: validated, ordered tests, per-chunk selection."""

    def __init__(self, pt: PixTable, criteria: Criteria) -> None:
        self.pt = pt
        self.criteria = criteria
        self.exposures, self.decoder = _table_maps(pt)
        self.tests: list[RowTest] = []
        c = criteria
        if c.exps is not None:
            self._check_exposures(c.exps)
        for name, values in (("ifu", c.ifus), ("slice", c.slices), ("stack", c.stacks)):
            if values:
                self.tests.append(self._origin_lut_test(name, values))
        if c.lambdas:
            ranges = list(c.lambdas)
            self.tests.append(
                RowTest("lambda", ("lambda",), 2, lambda src, idx: _ranges_mask(src.get("lambda", idx), ranges, src.scratch))
            )
        if c.ypix:
            self.tests.append(RowTest("ypix", ("origin",), 3, self._ypix_test))
        if c.xpix:
            self.tests.append(RowTest("xpix", ("origin",), 4, self._xpix_test))
        if c.apertures:
            self._frame = SkyFrame.of(pt)
            self._check_apertures(c.apertures)
            self.tests.append(RowTest("sky aperture", ("xpos", "ypos"), 10, self._sky_test))
        if c.rows is not None:
            self.tests.append(RowTest("rows", (), 0, masktests.rows_run(pt, c.rows)))
        if c.sky_mask is not None or c.region is not None:
            self._frame = SkyFrame.of(pt)  # the planner bounds them as apertures (io.bounds)
        if c.sky_mask is not None:
            self.tests.append(RowTest("sky mask", ("xpos", "ypos"), 11, masktests.sky_run(pt, c.sky_mask, "--mask")))
        if c.region is not None:
            self.tests.append(RowTest("region", ("xpos", "ypos"), 12, masktests.sky_run(pt, c.region, "--region")))
        for expr in c.where:
            self.tests.append(_filter_test(RowFilter(pt, expr, c.zero_based, c.slice_numbering)))
        self.tests.sort(key=lambda t: t.cost)

    # -- validation -----------------------------------------------------------

    def _check_exposures(self, exps: list[int]) -> None:
        problem = self.exposures.check(exps)
        if problem:
            raise InputError(self.pt.path, problem, field="exp")

    def _check_apertures(self, apertures: list[Aperture]) -> None:
        for ap in apertures:
            if self._frame.is_pixel:
                if not ap.plain:
                    raise CriteriaError(
                        f"{ap.label()}: {self.pt.path} is a pixel-unit table: give the centre and size "
                        "as plain numbers in pixels (no units, no sexagesimal)",
                        field=ap.shape,
                    )
                continue
            swapped = " (RA and Dec swapped?)" if -90.0 <= ap.ra <= 90.0 and 0.0 <= ap.dec < 360.0 else ""
            if not -90.0 <= ap.dec <= 90.0:
                raise CriteriaError(f"{ap.label()}: declination {ap.dec:g} is outside -90..90 deg{swapped}", field=ap.shape)
            if not 0.0 <= ap.ra < 360.0:
                # read modulo 360 (an aperture may straddle RA 0: -0.0005 is 359.9995), with a
                # warning: a negative RA is as often a Dec typed first
                log.warning("%s: RA %g read as %g (RA runs 0..360 deg%s)", ap.label(), ap.ra, ap.ra % 360.0,
                            "; RA and Dec swapped?" if swapped else "")

    # -- tests ------------------------------------------------------------------

    def _origin_lut_test(self, name: str, values: list[int]) -> RowTest:
        """IFU/slice/stack membership through a lookup table on the 11 low origin bits."""
        lut = np.zeros(1 << 11, dtype=bool)
        codes = np.arange(1 << 11)
        ifu, slc = codes >> org.IFU_SHIFT & org.IFU_MASK, codes & org.SLICE_MASK
        if name == "ifu":
            lut[np.isin(ifu, values)] = True
        elif name == "slice":
            lut[np.isin(slc, values)] = True
        else:
            lut[np.isin(slc, [s for st in values for s in stack_slices(st)])] = True

        def run(src: RowSource, idx: np.ndarray | None) -> np.ndarray:
            return lut[src.get("origin", idx) & 0x7FF]

        return RowTest(name, ("origin",), 1, run)

    def exposure_of(self, src: RowSource, idx: np.ndarray | None) -> np.ndarray:
        exp = self.exposures.of_rows(src.start, src.stop)
        return exp if idx is None else exp[idx]

    def _ypix_test(self, src: RowSource, idx: np.ndarray | None) -> np.ndarray:
        y = (src.get("origin", idx) >> org.Y_SHIFT) & org.Y_MASK
        if self.criteria.zero_based:
            y -= 1
        return _ranges_mask(y, self.criteria.ypix, src.scratch)

    def _xpix_test(self, src: RowSource, idx: np.ndarray | None) -> np.ndarray:
        x = self.decoder.x(src.get("origin", idx), self.exposure_of(src, idx))
        if self.criteria.zero_based:
            x -= 1
        return _ranges_mask(x, self.criteria.xpix, src.scratch)

    def _sky_test(self, src: RowSource, idx: np.ndarray | None) -> np.ndarray:
        ypos = src.get("ypos", idx)
        keep = np.zeros(ypos.shape, dtype=bool)
        bands = [self._ypos_band(ap) for ap in self.criteria.apertures]
        cand = np.zeros(ypos.shape, dtype=bool)
        for band in bands:
            if band is None:
                cand[:] = True
                break
            cand |= (ypos >= band[0]) & (ypos <= band[1])
        ci = np.flatnonzero(cand)
        if ci.size == 0:
            return keep
        xpos = src.get("xpos", ci if idx is None else idx[ci])
        ra, dec = self.sky_positions(xpos, ypos[ci])
        keep[ci[self.aperture_hits(ra, dec)]] = True
        return keep

    def sky_positions(self, xpos: np.ndarray, ypos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(RA, Dec) of rows for :meth:`aperture_hits` (float64, element by element: a row's
        values do not depend on the other rows computed with it)."""
        return self._frame.radec(xpos, ypos)

    def aperture_hits(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """Which positions of :meth:`sky_positions` fall in an aperture (a mask over them)."""
        hits = np.zeros(ra.shape, dtype=bool)
        for ap in self.criteria.apertures:
            dx, dy = self._frame.offsets(ra, dec, ap.ra, ap.dec)
            if ap.shape == "circle":
                hits |= dx**2 + dy**2 < ap.size * ap.size  # a float product overflows to inf; ** raises
            else:
                hits |= (np.abs(dx) < ap.size) & (np.abs(dy) < ap.size)
        return hits

    def aperture_band(self) -> tuple[np.float32, np.float32] | None:
        """[lo, hi] on ypos outside which no row is in an aperture (None: no such bound)."""
        bands = [self._ypos_band(ap) for ap in self.criteria.apertures]
        if not bands or any(b is None for b in bands):
            return None
        return min(b[0] for b in bands), max(b[1] for b in bands)  # type: ignore[index]

    def _ypos_band(self, ap: Aperture) -> tuple[np.float32, np.float32] | None:
        """A conservative [lo, hi] on ypos outside which no row can be in ``ap`` (None: no bound).

        pixel/positioned: ypos is y or Dec - CRVAL2, so |dy| < size bounds it.
        projected: -ypos is the angular distance from the reference point, so
        by the triangle inequality it is within the aperture's reach of the
        distance d between the reference point and the aperture centre.
        """
        f = self._frame
        reach = ap.size * (math.sqrt(2.0) if ap.shape == "square" else 1.0)
        if f.is_pixel:
            lo, hi = ap.dec - ap.size, ap.dec + ap.size
        elif f.wcs == "positioned":
            lo, hi = ap.dec - f.dec0 - ap.size / 3600.0, ap.dec - f.dec0 + ap.size / 3600.0
        else:
            r = math.radians(reach / 3600.0)
            cosd = math.cos(math.radians(ap.dec))
            if r > 0.05 or cosd <= 0 or r / cosd > 0.5:
                return None  # the flat-sky metric is too far from a distance here
            d = _separation(f.ra0, f.dec0, ap.ra, ap.dec)
            reach_rad = 1.5 * r + 1e-9
            lo, hi = -(d + reach_rad), -(d - reach_rad)
        pad = 1e-6 * max(1.0, abs(lo), abs(hi))
        lo, hi = lo - pad, hi + pad
        if not (abs(lo) < _FLOAT32_MAX and abs(hi) < _FLOAT32_MAX):
            return None  # an aperture wider than float32 can say (--circle RA DEC 1e300) bounds nothing
        return np.float32(lo), np.float32(hi)

    # -- evaluation ---------------------------------------------------------

    @property
    def first_columns(self) -> tuple[str, ...]:
        """Columns of the first test that reads any (worth prefetching whole)."""
        for t in self.tests:
            if t.columns:
                return t.columns
        return ()

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column some test reads."""
        out: list[str] = []
        for t in self.tests:
            out += [c for c in t.columns if c not in out]
        return tuple(out)

    def chunk_possible(self, start: int, stop: int) -> bool:
        """False when the exposure criterion alone rules out every row of the range."""
        exps = self.criteria.exps
        if exps is None or self.criteria.method != "and":
            return True
        return self.exposures.touches(exps, start, stop)

    def select(self, src: RowSource) -> np.ndarray:
        """Chunk-local indices (sorted) of the selected rows of ``src``."""
        n = len(src)
        tests = list(self.tests)
        exps = self.criteria.exps
        if self.criteria.method == "and":
            idx: np.ndarray | None = None
            if exps is not None:
                idx = np.flatnonzero(np.isin(self.exposure_of(src, None), exps))
            for t in tests:
                if idx is not None and idx.size == 0:
                    break
                m = t.run(src, idx)
                idx = np.flatnonzero(m) if idx is None else idx[m]
            return np.arange(n) if idx is None else idx
        selected = np.zeros(n, dtype=bool)
        if exps is not None:
            selected |= np.isin(self.exposure_of(src, None), exps)
        for t in tests:
            rest = np.flatnonzero(~selected)
            if rest.size == 0:
                break
            selected[rest[t.run(src, rest)]] = True
        return np.flatnonzero(selected)


def _filter_test(f: RowFilter) -> RowTest:
    """A row-filter expression as a test (the costliest kind: it runs on the rows left)."""

    def run(src: RowSource, idx: np.ndarray | None) -> np.ndarray:
        n = len(src) if idx is None else idx.size
        rows = lambda: range(src.start, src.stop) if idx is None else src.start + idx  # noqa: E731
        return f.mask(lambda name: src.get(name, idx), rows, n)

    return RowTest("where", f.columns, 20, run)


def _separation(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance in radians (haversine)."""
    p1, p2 = math.radians(dec1), math.radians(dec2)
    dl = math.radians(ra2 - ra1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * math.asin(min(1.0, math.sqrt(h)))
