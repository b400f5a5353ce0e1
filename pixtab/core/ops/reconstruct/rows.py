"""Which rows of a chunk go into which image: :class:`RowParts` cuts a chunk of ``origin``
values into :class:`Part` s of one IFU and one exposure, with their 0-based detector
pixels inside the window (x from :class:`~pixtab.core.format.origin.DetectorDecoder`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ...format import origin as org
from ...format.origin import DetectorDecoder
from ...io.rowfilter import RowFilter
from ...io.table import PixTable
from .request import Request

Rows = slice | np.ndarray  # rows of a chunk: a slice when contiguous, else indices

_KEY_MASK = (org.IFU_MASK << org.IFU_SHIFT) | org.SLICE_MASK  # ifu and slice fields
_BLOCK_ROWS = 1 << 16  # rows decoded at a time
_MAX_SEGMENTS = 16  # IFU runs in a block split as views; beyond, IFUs are gathered by mask


class Part(NamedTuple):
    """Selected rows of one chunk of one IFU and one exposure, in row order; 0-based pixels."""

    ifu: int
    exp: int
    rows: Rows
    x: np.ndarray
    y: np.ndarray
    first: int  # table row index of the first and last row
    last: int


def _where(mask: np.ndarray) -> Rows:
    """Rows where ``mask`` is true: a slice when they are contiguous (no gather needed)."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0 or int(idx[-1]) - int(idx[0]) + 1 == len(idx):
        return slice(int(idx[0]), int(idx[-1]) + 1) if len(idx) else slice(0, 0)
    return idx


def _compose(outer: Rows, inner: Rows) -> Rows:
    """Rows ``inner`` of the subset ``outer``, as rows of the whole."""
    if isinstance(outer, slice):
        if isinstance(inner, slice):
            return slice(outer.start + inner.start, outer.start + inner.stop)
        return inner + outer.start
    return outer[inner]


def _span(rows: Rows) -> tuple[int, int]:
    """First and last row of ``rows`` (non-empty)."""
    if isinstance(rows, slice):
        return rows.start, rows.stop - 1
    return int(rows[0]), int(rows[-1])


class RowParts:
    """Filters and decodes one chunk: exposure, IFU, then detector pixels in the window.

    The work is done in blocks of :data:`_BLOCK_ROWS` rows of one exposure (the
    temporaries stay in the CPU cache) and, in pipeline-ordered tables, on views
    of contiguous runs of one IFU rather than on gathered copies.
    """

    def __init__(self, pt: PixTable, req: Request) -> None:
        self.req = req
        self.decoder = DetectorDecoder.of(pt)
        window = (0, org.CCD_NX, 0, org.CCD_NY) if req.full_ccd else req.window0()
        # An integer x satisfies x >= lo (x < hi) exactly when x >= ceil(lo) (x < ceil(hi)).
        self.window = [None if not math.isfinite(v) else math.ceil(v) for v in window]
        self.filters = [RowFilter(pt, e, req.zero_based) for e in req.where]
        #: columns the row filters read, besides origin
        self.columns = list(dict.fromkeys(c for f in self.filters for c in f.columns if c != "origin"))

    def __call__(self, origin: np.ndarray, start: int, columns: dict[str, np.ndarray] | None = None) -> list[Part]:
        """The selected rows of a chunk, in parts of one IFU and one exposure, in row order per IFU.

        ``columns``: the chunk's values of :attr:`columns` (for the row filters). Thread-safe:
        the scan's workers call it on their chunks.
        """
        if origin.dtype.kind == "u":  # signed arithmetic below (x - 1 may be -1)
            origin = origin.astype(np.int64)
        chunk = {"origin": origin, **(columns or {})}
        parts: list[Part] = []
        for a, b, exp in self.decoder.exposures.runs(start, start + len(origin)):
            if self.req.exp is not None and exp != self.req.exp:
                continue
            for c in range(a - start, b - start, _BLOCK_ROWS):
                self._block(chunk, slice(c, min(c + _BLOCK_ROWS, b - start)), exp, start, parts)
        return parts

    def _filtered(self, chunk: dict[str, np.ndarray], rows: Rows, start: int) -> np.ndarray:
        """Mask of the chunk rows ``rows`` that pass every row filter."""
        idx = np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows
        mask = np.ones(len(idx), dtype=bool)
        for f in self.filters:
            mask &= f.mask(lambda name: chunk[name][rows], lambda: idx + start, len(idx))
        return mask

    def _block(self, chunk: dict[str, np.ndarray], rows: Rows, exp: int, start: int, parts: list[Part]) -> None:
        """Append the parts of rows ``rows`` (one exposure) of the chunk starting at table row ``start``."""
        o = chunk["origin"][rows]
        key = o & _KEY_MASK  # ifu and slice fields
        lo, hi = int(key.min()) >> org.IFU_SHIFT, int(key.max()) >> org.IFU_SHIFT
        ifu = None if lo == hi else key >> org.IFU_SHIFT  # None: all rows are of IFU lo
        if self.req.ifus:
            if ifu is None and lo not in self.req.ifus:
                return
            if ifu is not None:
                keep = _where(np.isin(ifu, self.req.ifus))
                rows, o, key, ifu = _compose(rows, keep), o[keep], key[keep], ifu[keep]
                if len(o) == 0:
                    return
                if len(self.req.ifus) == 1:
                    ifu, lo = None, self.req.ifus[0]
        if self.filters:
            keep = _where(self._filtered(chunk, rows, start))
            rows, o, key = _compose(rows, keep), o[keep], key[keep]
            ifu = None if ifu is None else ifu[keep]
            if len(o) == 0:
                return
        # XOFFSET lookups (and their errors) only for the rows selected so far.
        x, y = self._xy(o, exp)
        inside = self._inside(x, y)
        if inside is not None:
            keep = _where(inside)
            rows, x, y = _compose(rows, keep), x[keep], y[keep]
            ifu = None if ifu is None else ifu[keep]
            if len(x) == 0:
                return
        for i, sub in [(lo, slice(0, len(x)))] if ifu is None else _by_ifu(ifu):
            r = _compose(rows, sub)
            first, last = _span(r)
            parts.append(Part(i, exp, r, x[sub], y[sub], start + first, start + last))

    def _xy(self, o: np.ndarray, exp: int) -> tuple[np.ndarray, np.ndarray]:
        """0-based detector (x, y) of rows of exposure ``exp``; InputError naming a missing XOFFSET."""
        x = self.decoder.x(o, exp)
        x -= 1
        y = self.decoder.y(o)
        y -= 1
        return x, y

    def _inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """Mask of the rows inside the window, or None when all are (or there is no window)."""
        x0, x1, y0, y1 = self.window
        mask = None
        for v, lo, hi in ((x, x0, x1), (y, y0, y1)):
            for m in (None if lo is None else v >= lo, None if hi is None else v < hi):
                if m is not None:
                    mask = m if mask is None else mask & m
        return None if mask is None or mask.all() else mask


def _by_ifu(ifu: np.ndarray) -> list[tuple[int, Rows]]:
    """(IFU, rows) groups of an array of IFU fields, each group in row order."""
    lo, hi = int(ifu.min()), int(ifu.max())
    if lo == hi:
        return [(lo, slice(0, len(ifu)))]
    cuts = np.flatnonzero(ifu[1:] != ifu[:-1]) + 1
    if len(cuts) < _MAX_SEGMENTS:  # a few contiguous runs: views
        bounds = [0, *cuts.tolist(), len(ifu)]
        return [(int(ifu[a]), slice(a, b)) for a, b in zip(bounds, bounds[1:])]
    return [(i, np.flatnonzero(ifu == i)) for i in _ifus_in(ifu)]


def _ifus_in(ifu: np.ndarray) -> list[int]:
    """IFU numbers present in an array of IFU fields (a linear-time count, no sort)."""
    return np.flatnonzero(np.bincount(ifu, minlength=org.IFU_MASK + 1)).tolist()
