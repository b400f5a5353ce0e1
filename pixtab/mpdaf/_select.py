"""Row selection of the facade: MPDAF's ``select_*`` masks, ``extract`` and ``extract_from_mask``.

``extract`` on a file-backed table with no column changed in memory runs
pixtab's engine (planned: only the row ranges that can hold selected rows
are read); otherwise it combines the ``select_*`` masks as MPDAF does.
Either way the result's header follows the pipeline (LIMITS, MERGED,
EXPn FIRST/LAST with the exposure numbers kept).
"""

from __future__ import annotations

import math
from typing import Any

import astropy.units as u
import numpy as np

from ..core.format.slicer import stack_slices
from ..core.format.sky import wrap_delta_ra
from ._columns import CoreColumns
from ._write import COLUMNS, subset_header, wcs_state

Pairs = list[tuple[float, float]]


def _pairs(value: Any) -> Pairs:
    """One (lo, hi) pair or a list of them (MPDAF documents both; 3.6 crashes on a bare pair)."""
    if len(value) == 2 and np.isscalar(value[0]) and np.isscalar(value[1]):
        return [(value[0], value[1])]
    return [(a, b) for a, b in value]


def _ints(value: Any) -> list[int]:
    return [int(v) for v in ([value] if np.isscalar(value) else value)]


class SelectMixin:
    """MPDAF's selection methods (mixed into :class:`pixtab.mpdaf.PixTable`)."""

    # -- masks (full length, as MPDAF) ----------------------------------------------

    def select_lambda(self, lbda: Any, unit: u.UnitBase = u.angstrom) -> np.ndarray:
        """Mask of rows with lo <= lambda < hi for any (lo, hi) of ``lbda`` (in ``unit``)."""
        arr = self.get_lambda()
        mask = np.zeros(self.nrows, dtype=bool)
        for l1, l2 in _pairs(lbda):
            l1, l2 = (l1 * unit).to(self.wave).value, (l2 * unit).to(self.wave).value
            mask |= (arr >= l1) & (arr < l2)
        return mask

    def select_stacks(self, stacks: Any, origin: np.ndarray | None = None) -> np.ndarray:
        """Mask of rows in MPDAF stacks 1..4 (all 12 CCD slices of each)."""
        stacks = _ints(stacks)
        assert min(stacks) > 0 and max(stacks) < 5
        return self.select_slices([s for st in stacks for s in stack_slices(st)], origin=origin)

    def select_slices(self, slices: Any, origin: np.ndarray | None = None) -> np.ndarray:
        """Mask of rows in the given CCD slices."""
        col = origin if origin is not None else self.get_origin()
        return np.isin(self.origin2slice(col), _ints(slices))

    def select_ifus(self, ifus: Any, origin: np.ndarray | None = None) -> np.ndarray:
        """Mask of rows of the given IFUs."""
        col = origin if origin is not None else self.get_origin()
        return np.isin(self.origin2ifu(col), _ints(ifus))

    def select_exp(self, exp: Any, col_exp: np.ndarray) -> np.ndarray:
        """Mask of rows whose exposure (``col_exp``, from :meth:`get_exp`) is in ``exp``."""
        return np.isin(col_exp, _ints(exp))

    def select_xpix(self, xpix: Any, origin: np.ndarray | None = None) -> np.ndarray:
        """Mask of rows with lo <= xpix < hi (0-based detector x) for any (lo, hi)."""
        col = origin if origin is not None else self.get_origin()
        return self._in_ranges(self.origin2xpix(col), xpix)

    def select_ypix(self, ypix: Any, origin: np.ndarray | None = None) -> np.ndarray:
        """Mask of rows with lo <= ypix < hi (0-based detector y) for any (lo, hi)."""
        col = origin if origin is not None else self.get_origin()
        return self._in_ranges(self.origin2ypix(col), ypix)

    def _in_ranges(self, values: np.ndarray, ranges: Any) -> np.ndarray:
        mask = np.zeros(len(values), dtype=bool)
        for lo, hi in _pairs(ranges):
            mask |= (values >= lo) & (values < hi)
        return mask

    def select_sky(self, sky: Any) -> np.ndarray:
        """Mask of rows in any aperture ``(dec, ra, size, 'C'|'S')``: centre in degrees
        (pixels), radius or half side in arcsec (pixels)."""
        xsky, ysky = self.get_pos_sky()
        mask = np.zeros(self.nrows, dtype=bool)
        celestial = self.wcs in (u.deg, u.rad)
        for y0, x0, size, shape in [sky] if isinstance(sky, tuple) else sky:
            if shape not in ("C", "S"):
                raise ValueError("Unknown shape parameter")
            if celestial:
                dx = wrap_delta_ra(xsky - x0) * 3600 * math.cos(math.radians(y0))
                dy = (ysky - y0) * 3600
            else:
                dx, dy = xsky - x0, ysky - y0
            if shape == "C":
                mask |= dx**2 + dy**2 < size**2
            else:
                mask |= (np.abs(dx) < size) & (np.abs(dy) < size)
        return mask

    # -- sub-tables -------------------------------------------------------------------

    def extract_from_mask(self, mask: Any) -> Any:
        """A new in-memory table of the rows of ``mask`` (boolean, or row indices); None if empty."""
        rows = np.asarray(mask)
        rows = np.flatnonzero(rows) if rows.dtype == bool else np.unique(rows.astype(np.int64))
        if rows.size == 0:
            return None
        names = COLUMNS + (("weight",) if self._has("weight") else ())
        return self._subset(rows, {n: self.get_column(n, rows) for n in names})

    def _subset(self, rows: np.ndarray, cols: dict[str, np.ndarray]) -> Any:
        """The in-memory table of rows ``rows`` whose columns are ``cols``."""
        hdr = subset_header(self.primary_header, self.nrows, rows, cols, wcs_state(self.wcs))
        c = cols
        return type(self)(
            None, c["xpos"], c["ypos"], c["lambda"], c["data"], c["dq"], c["stat"], c["origin"],
            c.get("weight"), hdr, self.ima, self.wcs, self.wave, unit_data=self.unit_data,
        )

    def extract(
        self,
        filename: Any = None,
        sky: Any = None,
        lbda: Any = None,
        ifu: Any = None,
        sl: Any = None,
        xpix: Any = None,
        ypix: Any = None,
        exp: Any = None,
        stack: Any = None,
        method: str = "and",
    ) -> Any:
        """The rows meeting the criteria (AND-ed, or OR-ed with ``method='or'``) as a new
        table, also written to ``filename`` when given; None when no row is selected.

        ``sky``: (dec, ra, size, 'C'|'S') or a list; ``lbda``: (lo, hi) Angstrom or a list,
        half-open; ``ifu``, ``sl`` (CCD slices), ``stack`` (1..4), ``exp``: numbers or lists;
        ``xpix``/``ypix``: 0-based (lo, hi) or a list, half-open. ``exp`` is ignored on a
        single-exposure table (as MPDAF).
        """
        if self.nrows == 0:
            return None
        if method not in ("and", "or"):
            raise ValueError(f"method must be 'and' or 'or', not {method!r}")
        sky = [sky] if isinstance(sky, tuple) else sky
        for s in sky or ():
            if s[3] not in ("C", "S"):
                raise ValueError("Unknown shape parameter")
        if exp is not None and self.get_exp() is None:
            exp = None  # MPDAF ignores exp on a single-exposure table
        given = dict(sky=sky, lbda=lbda, ifu=ifu, sl=sl, xpix=xpix, ypix=ypix, exp=exp, stack=stack)
        given = {k: v for k, v in given.items() if v is not None}
        if isinstance(self._source, CoreColumns) and not self._cols and given:
            return self._extract_planned(filename, given, method)
        mask = np.full(self.nrows, method == "and")
        combine = np.logical_and if method == "and" else np.logical_or
        tests = {
            "sky": lambda v: self.select_sky(v),
            "lbda": lambda v: self.select_lambda(v),
            "sl": lambda v: self.select_slices(v, origin),
            "stack": lambda v: self.select_stacks(v, origin),
            "ifu": lambda v: self.select_ifus(v, origin),
            "xpix": lambda v: self.select_xpix(v, origin),
            "ypix": lambda v: self.select_ypix(v, origin),
            "exp": lambda v: self.select_exp(v, self.get_exp()),
        }
        origin = self.get_origin() if given.keys() & {"sl", "stack", "ifu", "xpix", "ypix"} else None
        for name, value in given.items():
            combine(mask, tests[name](value), out=mask)
        pix = self.extract_from_mask(mask)
        if pix is not None and filename is not None:
            pix.write(filename)
        return pix

    def _extract_planned(self, filename: Any, given: dict[str, Any], method: str) -> Any:
        """extract through pixtab's engine (file-backed table, no in-memory change)."""
        from ..api import _engine
        from ..api._engine import Aperture, Criteria

        src = self._source
        pt = src.table
        exps = None
        if "exp" in given:
            have = set(self.get_exp_numbers())
            exps = [e for e in _ints(given["exp"]) if e in have]
            if not exps and method == "and":
                return None
        plain = pt.wcs == "pixel"
        crit = Criteria(
            apertures=[Aperture("circle" if s[3] == "C" else "square", float(s[1]), float(s[0]), float(s[2]), plain)
                       for s in given.get("sky", ())],
            lambdas=[((a * u.angstrom).to(self.wave).value, (b * u.angstrom).to(self.wave).value)
                     for a, b in _pairs(given["lbda"])] if "lbda" in given else [],
            ifus=_ints(given["ifu"]) if "ifu" in given else None,
            slices=_ints(given["sl"]) if "sl" in given else None,
            stacks=_ints(given["stack"]) if "stack" in given else None,
            xpix=[(float(a), float(b)) for a, b in _pairs(given["xpix"])] if "xpix" in given else [],
            ypix=[(float(a), float(b)) for a, b in _pairs(given["ypix"])] if "ypix" in given else [],
            exps=exps or None if method == "or" else exps,
            method=method,
            zero_based=True,
        )
        selection = _engine.select(pt, crit)
        if selection.count() == 0:
            return None
        if filename is not None:
            _engine.write(pt, selection, crit, filename, "image", overwrite=True)
            return type(self)(filename)
        names = [n for n in pt.columns if n in COLUMNS or n == "weight"]
        parts = list(_engine.iter_rows(pt, names, selection))
        rows = np.concatenate([np.asarray(r) for r, _ in parts])
        cols = {}
        for n in names:
            col = np.concatenate([a[n] for _, a in parts])
            cols[n] = col.astype(np.float64) if col.dtype.kind == "f" else col  # MPDAF's types
        return self._subset(rows, cols)

    def get_exp_numbers(self) -> list[int]:
        """Exposure numbers of the table's EXPn keywords ([] on a single exposure)."""
        from ..core.format import keywords as kwmod

        return [e.exp for e in kwmod.parse(self.primary_header).exposures]
