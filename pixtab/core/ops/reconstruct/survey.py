"""Detector images from a pixel table (``pixtab reconstruct-det``).

Each selected row goes to ``image[y - ystart, x - xstart]`` of its IFU's image
(the last row written wins, as in MPDAF); pixels without a row hold the fill
value. Images cover the bounding box of the rows present (MPDAF's default), a
half-open window, or the full 4096 x 4112 CCD (rows off the CCD are then left
out, as rows outside a window are).

Memory: the table is streamed twice in chunks. The first pass (:func:`survey`)
reads only ``origin`` and finds, per IFU, the rows selected, their bounding box
and exposures, and the first and last row where the IFU occurs (the pass is
skipped when one IFU and a finite window are given). The second pass reads
``origin`` and the chosen column. :func:`write_streamed` lays the output file
out up front (each image's size is known from its bounds, so every HDU's offset
is known), allocates an IFU's image when the stream reaches the IFU's first row,
and writes it at its offset (big-endian, in place, padded to 2880 bytes) and
frees it as soon as the stream has passed the IFU's last row (its memory is
reused for the next image). Images are in the column's own type (float32 for
data/lambda/stat/weight): 67 MB for a full IFU.

In a pipeline-ordered table each IFU of an exposure is one contiguous run of
rows, so one image (two when runs interleave at their ends) is alive at a time,
whatever the table size. When IFUs interleave (unsorted tables, or ``--all-ifus``
over several exposures without ``--exp``, where each IFU spans every exposure),
every image whose row span covers the current row is alive: up to all of them,
24 x 67 MB = 1.6 GB for a full exposure (a debug message says so).
:func:`reconstruct` keeps every image in memory, for library use.

When several exposures may meet in one image, a uint8 tag per pixel (25% more)
records which exposure wrote it, to detect overlaps.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from astropy.io import fits

from ...format import origin as org
from ...errors import CriteriaError, EmptySelectionError
from ...fits.structure import header_bytes, padded
from ...format.keywords import Exposure
from ...io.table import DEFAULT_CHUNK_ROWS, PixTable
from ...io.writer import pwrite_all

log = logging.getLogger(__name__)

#: columns that can be imaged
IMAGE_COLUMNS = ("data", "lambda", "stat", "dq", "weight")

Progress = Callable[[int], None]
Rows = slice | np.ndarray  # rows of a chunk: a slice when contiguous, else indices

_KEY_MASK = (org.IFU_MASK << org.IFU_SHIFT) | org.SLICE_MASK  # ifu and slice fields: the XOFFSET index
_BLOCK_ROWS = 1 << 16  # rows decoded at a time
_MAX_SEGMENTS = 16  # IFU runs in a block split as views; beyond, IFUs are gathered by mask


@dataclass(frozen=True)
class Request:
    """What to reconstruct. ``xpix``/``ypix`` are half-open (lo, hi) in the chosen base;
    either side may be infinite (then the bounding box of the rows decides)."""

    column: str = "data"
    ifu: int | None = None
    exp: int | None = None
    xpix: tuple[float, float] | None = None
    ypix: tuple[float, float] | None = None
    full_ccd: bool = False
    all_ifus: bool = False
    fill: str = "nan"  # 'nan' or '0'
    zero_based: bool = False

    @property
    def base(self) -> int:
        """Detector pixel number of the first CCD column/row."""
        return 0 if self.zero_based else 1


@dataclass
class DetectorImage:
    """One reconstructed image. ``xstart``/``ystart`` are the detector pixel of
    ``image[0, 0]`` in the request's base. ``image`` is None once written out and
    freed (:func:`write_streamed`); ``shape`` stays."""

    ifu: int
    exposures: list[int]
    xstart: int
    ystart: int
    image: np.ndarray | None
    nrows: int = 0  # rows written
    npix: int = 0  # pixels holding a value other than the fill
    shape: tuple[int, int] = (0, 0)  # (ny, nx)

    def __post_init__(self) -> None:
        if self.image is not None:
            self.shape = tuple(self.image.shape)  # type: ignore[assignment]


class _Part(NamedTuple):
    """Selected rows of one chunk of one IFU and one exposure, in row order; 0-based pixels."""

    ifu: int
    exp: int
    rows: Rows
    x: np.ndarray
    y: np.ndarray
    first: int  # table row index of the first and last row
    last: int


@dataclass
class _Box:
    """Per-IFU survey: rows, inclusive 0-based bounds, exposures, first and last table row."""

    nrows: int = 0
    x0: int = org.CCD_NX
    x1: int = -1
    y0: int = org.CCD_NY
    y1: int = -1
    exps: set[int] = field(default_factory=set)
    first: int = -1
    last: int = -1

    def add(self, p: _Part) -> None:
        self.nrows += len(p.x)
        self.x0, self.x1 = min(self.x0, int(p.x.min())), max(self.x1, int(p.x.max()))
        self.y0, self.y1 = min(self.y0, int(p.y.min())), max(self.y1, int(p.y.max()))
        self.exps.add(p.exp)
        self.first = p.first if self.first < 0 else self.first
        self.last = p.last


def _check_request(pt: PixTable, req: Request) -> None:
    if req.column not in IMAGE_COLUMNS:
        raise CriteriaError(f"--column must be one of {', '.join(IMAGE_COLUMNS)}")
    if req.column not in pt.columns:
        raise CriteriaError(f"--column {req.column}: {pt.path} has no '{req.column}' column")
    if req.fill not in ("nan", "0"):
        raise CriteriaError("--fill must be nan or 0")
    if req.all_ifus and req.ifu is not None:
        raise CriteriaError("--ifu and --all-ifus exclude each other")
    if req.full_ccd and (req.xpix or req.ypix):
        raise CriteriaError("--full-ccd and --xpix/--ypix exclude each other")
    for name, rng, size in (("--xpix", req.xpix, org.CCD_NX), ("--ypix", req.ypix, org.CCD_NY)):
        if rng is None:
            continue
        lo, hi = rng
        if (math.isfinite(lo) and lo < req.base) or (math.isfinite(hi) and hi > req.base + size):
            raise CriteriaError(
                f"{name} {_fmt_range(rng)} reaches outside the CCD ({req.base}:{req.base + size} in this base)"
            )
    if req.exp is not None:
        numbers = [e.exp for e in pt.keywords.exposures]
        if not numbers:
            raise CriteriaError(f"--exp: {pt.path} is a single-exposure table (no EXPn FIRST/LAST keywords)")
        if req.exp not in numbers:
            raise CriteriaError(f"--exp {req.exp}: {pt.path} has exposures {', '.join(map(str, numbers))}")


def _fmt_range(rng: tuple[float, float]) -> str:
    return ":".join("" if not math.isfinite(v) else str(int(v)) for v in rng)


def _row_range(pt: PixTable, req: Request) -> tuple[int, int]:
    """Rows to read: the chosen exposure's range, else the whole table."""
    if req.exp is not None:
        for e in pt.keywords.exposures:
            if e.exp == req.exp:
                return e.first, e.last + 1
    return 0, pt.nrows


def _window0(req: Request) -> tuple[float, float, float, float]:
    """The window as 0-based half-open bounds (x0, x1, y0, y1); infinite when open."""
    xr = req.xpix or (-math.inf, math.inf)
    yr = req.ypix or (-math.inf, math.inf)
    b = req.base
    return xr[0] - b, xr[1] - b, yr[0] - b, yr[1] - b


def _exposure_runs(start: int, stop: int, exposures: Sequence[Exposure]) -> list[tuple[int, int, int]]:
    """(first, stop, exposure) runs covering rows ``start..stop-1``, numbered as
    :func:`origin.exposure_of_rows` numbers them (0 outside any EXPn range)."""
    cuts = sorted({start, stop} | {c for e in exposures for c in (e.first, e.last + 1) if start < c < stop})
    runs: list[tuple[int, int, int]] = []
    for a, b in zip(cuts, cuts[1:]):
        exp = 0
        for e in exposures:
            if e.first <= a <= e.last:
                exp = e.exp
        if runs and runs[-1][2] == exp:
            runs[-1] = (runs[-1][0], b, exp)
        else:
            runs.append((a, b, exp))
    return runs


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


class _Selector:
    """Filters and decodes one chunk: exposure, IFU, then detector pixels in the window.

    The work is done in blocks of :data:`_BLOCK_ROWS` rows of one exposure (the
    temporaries stay in the CPU cache) and, in pipeline-ordered tables, on views
    of contiguous runs of one IFU rather than on gathered copies.
    """

    def __init__(self, pt: PixTable, req: Request) -> None:
        self.req = req
        self.exposures = pt.keywords.exposures
        self.xoffsets = org.XOffsets(pt.keywords.xoffsets, pt.path)
        window = (0, org.CCD_NX, 0, org.CCD_NY) if req.full_ccd else _window0(req)
        # An integer x satisfies x >= lo (x < hi) exactly when x >= ceil(lo) (x < ceil(hi)).
        self.window = [None if not math.isfinite(v) else math.ceil(v) for v in window]

    def __call__(self, origin: np.ndarray, start: int) -> list[_Part]:
        """The selected rows of a chunk, in parts of one IFU and one exposure, in row order per IFU."""
        if origin.dtype.kind == "u":  # signed arithmetic below (x - 1 may be -1)
            origin = origin.astype(np.int64)
        parts: list[_Part] = []
        for a, b, exp in _exposure_runs(start, start + len(origin), self.exposures):
            if self.req.exp is not None and exp != self.req.exp:
                continue
            for c in range(a - start, b - start, _BLOCK_ROWS):
                self._block(origin, slice(c, min(c + _BLOCK_ROWS, b - start)), exp, start, parts)
        return parts

    def _block(self, origin: np.ndarray, rows: Rows, exp: int, start: int, parts: list[_Part]) -> None:
        """Append the parts of rows ``rows`` (one exposure) of the chunk starting at table row ``start``."""
        o = origin[rows]
        key = o & _KEY_MASK  # ifu and slice fields
        lo, hi = int(key.min()) >> org.IFU_SHIFT, int(key.max()) >> org.IFU_SHIFT
        ifu = None if lo == hi else key >> org.IFU_SHIFT  # None: all rows are of IFU lo
        if self.req.ifu is not None:
            if ifu is None and lo != self.req.ifu:
                return
            if ifu is not None:
                keep = _where(ifu == self.req.ifu)
                rows, o, key, ifu, lo = _compose(rows, keep), o[keep], key[keep], None, self.req.ifu
                if len(o) == 0:
                    return
        # XOFFSET lookups (and their errors) only for the rows selected so far.
        x, y = self._xy(o, key, exp)
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
            parts.append(_Part(i, exp, r, x[sub], y[sub], start + first, start + last))

    def _xy(self, o: np.ndarray, key: np.ndarray, exp: int) -> tuple[np.ndarray, np.ndarray]:
        """0-based detector (x, y) of rows of exposure ``exp``; InputError naming a missing XOFFSET."""
        table = self.xoffsets.table
        off = table[exp].reshape(-1).take(key) if exp < table.shape[0] else None
        if off is None or int(off.min()) < 0:
            # The codec's lookup names the keyword of the first row without one.
            self.xoffsets.lookup(np.full(len(o), exp), org.get_ifu(o), org.get_slice(o))
        x = o >> org.X_SHIFT
        x &= org.X_MASK
        x += off
        x -= 1
        y = o >> org.Y_SHIFT
        y &= org.Y_MASK
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


def _survey(
    pt: PixTable, select: _Selector, rows: tuple[int, int], chunk_rows: int, progress: Progress | None
) -> dict[int, _Box]:
    """First pass over ``origin`` only: rows, bounding box, exposures and row span of each IFU selected."""
    boxes: dict[int, _Box] = {}
    for chunk in pt.iter_chunks(["origin"], rows[0], rows[1], chunk_rows):
        for part in select(chunk["origin"], chunk.start):
            boxes.setdefault(part.ifu, _Box()).add(part)
        if progress:
            progress(len(chunk))
    return boxes


def _describe(req: Request) -> str:
    parts = []
    if req.ifu is not None:
        parts.append(f"IFU {req.ifu}")
    if req.exp is not None:
        parts.append(f"exposure {req.exp}")
    if req.xpix or req.ypix:
        parts.append("the window")
    return " of " + ", ".join(parts) if parts else ""


def _choose_ifus(pt: PixTable, req: Request, boxes: dict[int, _Box]) -> list[int]:
    present = sorted(i for i, b in boxes.items() if b.nrows)
    if not present:
        raise EmptySelectionError(f"{pt.path}: no rows{_describe(req)}: nothing to reconstruct")
    if req.all_ifus:
        return present
    if req.ifu is None and len(present) > 1:
        raise CriteriaError(
            f"{pt.path} holds rows of IFUs {', '.join(map(str, present))}: choose one with --ifu N (or use --all-ifus)"
        )
    return present


def _bounds(req: Request, box: _Box | None) -> tuple[int, int, int, int]:
    """0-based half-open image bounds (x0, x1, y0, y1)."""
    if req.full_ccd:
        return 0, org.CCD_NX, 0, org.CCD_NY
    wx0, wx1, wy0, wy1 = _window0(req)
    pick = lambda w, b: int(w) if math.isfinite(w) else b  # noqa: E731
    if box is None:
        return int(wx0), int(wx1), int(wy0), int(wy1)
    return pick(wx0, box.x0), pick(wx1, box.x1 + 1), pick(wy0, box.y0), pick(wy1, box.y1 + 1)


def image_dtype(column_dtype: np.dtype, fill: str) -> np.dtype:
    """Image type: the column's own type, or float64 for integers filled with NaN."""
    if fill == "nan" and column_dtype.kind != "f":
        return np.dtype(np.float64)
    return np.dtype(column_dtype)


class _Clash(Exception):
    """Two exposures wrote one pixel (carries the usage error to raise)."""

    def __init__(self, error: CriteriaError) -> None:
        super().__init__(str(error))
        self.error = error


class _Canvas:
    """One IFU's image being filled, with an optional exposure tag per pixel."""

    def __init__(
        self,
        ifu: int,
        bounds: tuple[int, int, int, int],
        dtype: np.dtype,
        fill: float,
        ntags: int,
        spare: np.ndarray | None = None,
    ) -> None:
        """``spare``: memory to reuse, of ``dtype`` and at least the image's size."""
        self.ifu = ifu
        self.x0, x1, self.y0, y1 = bounds
        shape = (y1 - self.y0, x1 - self.x0)
        n = shape[0] * shape[1]
        if spare is not None:  # a finished image's memory: no fresh pages to fault in
            self.buffer = spare
            self.buffer[:n].fill(fill)
        else:
            self.buffer = np.full(n, fill, dtype=dtype)
        self.image = self.buffer[:n].reshape(shape)
        self.nx = x1 - self.x0
        self.fill = fill
        # Which exposure wrote each pixel, only when several may meet here.
        self.tagged = ntags > 1
        tag_type = np.uint8 if ntags < 256 else np.uint16
        self.written = np.zeros(self.image.shape if self.tagged else (0, 0), dtype=tag_type)
        self.nrows = 0
        self.exps: set[int] = set()

    def put(
        self, x: np.ndarray, y: np.ndarray, values: np.ndarray, exp: int, tags: dict[int, int], base: int
    ) -> None:
        """Write rows of exposure ``exp`` (0-based pixels inside the bounds).

        Raises :class:`_Clash` for a pixel another exposure wrote (nothing is written then).
        """
        flat = y - self.y0  # index into the flattened image, computed in place
        flat *= self.nx
        flat += x
        flat -= self.x0
        tag = tags.get(exp, 1)
        if self.tagged:
            seen = self.written.reshape(-1)[flat]
            clash = (seen != 0) & (seen != tag)
            if clash.any():
                k = int(np.argmax(clash))
                other = next(e for e, t in tags.items() if t == seen[k])
                raise _Clash(
                    CriteriaError(
                        f"IFU {self.ifu}: exposures {other} and {exp} both have rows on detector pixel "
                        f"x={int(x[k]) + base}, y={int(y[k]) + base}: choose one with --exp K"
                    )
                )
        self.image.reshape(-1)[flat] = values  # the last row written wins
        if self.tagged:
            self.written.reshape(-1)[flat] = tag
        self.nrows += len(x)
        self.exps.add(exp)

    def result(self, base: int) -> DetectorImage:
        """The image so far (``npix`` not counted yet)."""
        return DetectorImage(self.ifu, sorted(self.exps), self.x0 + base, self.y0 + base, self.image, self.nrows)


def _filled(block: np.ndarray, fill: float) -> int:
    """Pixels of ``block`` not holding the fill value."""
    if isinstance(fill, float) and math.isnan(fill):
        return int(block.size - np.count_nonzero(np.isnan(block)))
    return int(np.count_nonzero(block != fill))


def _count_filled(image: np.ndarray, fill: float) -> int:
    """Pixels not holding the fill value (counted in row blocks: no full-size temporary)."""
    return sum(_filled(image[a : a + 256], fill) for a in range(0, image.shape[0], 256))


def needs_survey(req: Request) -> bool:
    """True when a first pass over ``origin`` is needed (IFUs present, bounding boxes)."""
    window_known = req.full_ccd or all(
        r is not None and math.isfinite(r[0]) and math.isfinite(r[1]) for r in (req.xpix, req.ypix)
    )
    return req.ifu is None or not window_known


def rows_to_read(pt: PixTable, req: Request) -> int:
    """Rows read in all (for a progress bar): one or two passes over the selected range."""
    a, b = _row_range(pt, req)
    return (b - a) * (2 if needs_survey(req) else 1)


@dataclass
class Plan:
    """The images to make (from the first pass, or from the request alone)."""

    req: Request
    rows: tuple[int, int]  # table rows read
    ifus: list[int]  # in output order
    bounds: dict[int, tuple[int, int, int, int]]  # 0-based half-open (x0, x1, y0, y1)
    dtype: np.dtype
    fill: float
    tags: dict[int, int]  # exposure -> tag (1, 2, ...)
    boxes: dict[int, _Box] | None  # None when the first pass was skipped
    path: str

    def provisional(self, ifu: int) -> DetectorImage:
        """The image's metadata as the survey predicts it (``npix`` unknown): fixes header sizes."""
        x0, x1, y0, y1 = self.bounds[ifu]
        box = self.boxes[ifu] if self.boxes is not None else _Box(exps=set(self.tags) or {0})
        b = self.req.base
        return DetectorImage(ifu, sorted(box.exps), x0 + b, y0 + b, None, box.nrows, 0, (y1 - y0, x1 - x0))

    def max_overlap(self) -> int:
        """Most IFU row spans covering one row: images alive at once while streaming."""
        if self.boxes is None:
            return len(self.ifus)
        events = sorted([(self.boxes[i].first, 1) for i in self.ifus] + [(self.boxes[i].last + 1, -1) for i in self.ifus])
        alive = peak = 0
        for _, d in events:
            alive += d
            peak = max(peak, alive)
        return peak


def survey(
    pt: PixTable, req: Request, progress: Progress | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Plan:
    """Check ``req`` and plan the images (first pass over ``origin`` when needed).

    Raises :class:`CriteriaError` (a usage error) when the table holds several
    IFUs and neither ``ifu`` nor ``all_ifus`` is given, and
    :class:`EmptySelectionError` when the first pass selects no row.
    """
    _check_request(pt, req)
    rows = _row_range(pt, req)
    boxes: dict[int, _Box] | None = None
    if not needs_survey(req):
        ifus = [req.ifu]
        exps_possible = {req.exp} if req.exp is not None else {e.exp for e in pt.keywords.exposures}
    else:
        boxes = _survey(pt, _Selector(pt, req), rows, chunk_rows, progress)
        ifus = _choose_ifus(pt, req, boxes)
        exps_possible = set().union(*(boxes[i].exps for i in ifus))
    return Plan(
        req,
        rows,
        ifus,  # type: ignore[arg-type]
        {i: _bounds(req, boxes[i] if boxes else None) for i in ifus},  # type: ignore[index]
        image_dtype(pt.columns[req.column].dtype, req.fill),
        np.nan if req.fill == "nan" else 0,
        {e: k + 1 for k, e in enumerate(sorted(exps_possible))},
        boxes,
        pt.path,
    )


def _fill(
    pt: PixTable,
    plan: Plan,
    done: Callable[[DetectorImage], None],
    release: bool,
    progress: Progress | None,
    chunk_rows: int,
) -> int:
    """Second pass: fill the images and hand each finished one to ``done``, in any order.

    An image is allocated at the IFU's first row; with ``release`` (and a first
    pass) it is finished and dropped right after the IFU's last row, else at the
    end. Returns the most images alive at once.
    """
    req = plan.req
    select = _Selector(pt, req)
    last = {i: plan.boxes[i].last for i in plan.ifus} if (plan.boxes is not None and release) else {}
    alive: dict[int, _Canvas] = {}
    finished: set[int] = set()
    peak = 0
    spare: np.ndarray | None = None  # memory of the last image written out, for the next one

    def canvas(i: int) -> _Canvas:
        nonlocal peak, spare
        if i not in alive:
            x0, x1, y0, y1 = plan.bounds[i]
            if spare is not None and spare.size < (x1 - x0) * (y1 - y0):
                spare = None  # too small: freed before the new image is allocated
            alive[i] = _Canvas(i, plan.bounds[i], plan.dtype, plan.fill, len(plan.tags), spare)
            spare = None
            peak = max(peak, len(alive))
        return alive[i]

    def finish(i: int) -> None:
        nonlocal spare
        c = alive.pop(i)
        done(c.result(req.base))
        finished.add(i)
        if release:
            spare = c.buffer

    wanted = set(plan.ifus)
    for chunk in pt.iter_chunks(["origin", req.column], plan.rows[0], plan.rows[1], chunk_rows):
        values = chunk[req.column]
        clashes: dict[int, CriteriaError] = {}
        for part in select(chunk["origin"], chunk.start):
            if part.ifu not in wanted or part.ifu in clashes:
                continue
            try:
                canvas(part.ifu).put(part.x, part.y, values[part.rows], part.exp, plan.tags, req.base)
            except _Clash as c:
                clashes[part.ifu] = c.error
                continue
            if last.get(part.ifu) == part.last:
                finish(part.ifu)
        if clashes:  # as filling IFU by IFU would: the lowest IFU's first clash
            raise clashes[min(clashes)]
        if progress:
            progress(len(chunk))
    if plan.boxes is None and not any(c.nrows for c in alive.values()):
        raise EmptySelectionError(f"{plan.path}: no rows{_describe(req)}: nothing to reconstruct")
    for i in plan.ifus:  # the rest, in output order (an IFU without rows: fill only)
        if i not in finished:
            canvas(i)
            finish(i)
    return peak


def reconstruct(
    pt: PixTable,
    req: Request,
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> list[DetectorImage]:
    """Detector images of ``req.column``, all in memory: one, or one per IFU with ``all_ifus``.

    Raises :class:`CriteriaError` (a usage error) when the table holds several
    IFUs and neither ``ifu`` nor ``all_ifus`` is given, or when two exposures
    put rows on the same pixel and no ``exp`` is given; and
    :class:`EmptySelectionError` when no row is selected. ``progress`` is
    called with the number of rows done in each pass (two passes of
    ``rows`` rows, or one when the survey is skipped). For big tables and
    ``all_ifus`` prefer :func:`write_streamed`, which keeps one image at a time.
    """
    plan = survey(pt, req, progress, chunk_rows)
    images: dict[int, DetectorImage] = {}
    _fill(pt, plan, lambda im: images.__setitem__(im.ifu, im), False, progress, chunk_rows)
    for im in images.values():
        im.npix = _count_filled(im.image, plan.fill)  # type: ignore[arg-type]
    return [images[i] for i in plan.ifus]


@dataclass
class Streamed:
    """What :func:`write_streamed` wrote: image metadata (``image`` None) in file order,
    and the most images that were alive at once."""

    images: list[DetectorImage]
    max_alive: int


def write_streamed(
    fd: int,
    pt: PixTable,
    plan: Plan,
    unit: str | None,
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Streamed:
    """Second pass of :func:`survey`'s plan, written to ``fd`` as :func:`write_images` would.

    Each image is written at its precomputed offset and freed as soon as the
    stream has passed its IFU's last row. Raises as :func:`reconstruct` does;
    the file is then incomplete.
    """
    overlap = plan.max_overlap()
    if overlap > 1:
        log.debug("%s: IFUs interleave in row order: up to %d images in memory at once", plan.path, overlap)
    written: dict[int, DetectorImage] = {}
    out: _ImageFile | None = None

    def done(im: DetectorImage) -> None:
        nonlocal out
        if out is None:  # laid out once the first image is known (the only one when there is no survey)
            layout = [im if i == im.ifu else plan.provisional(i) for i in plan.ifus]
            out = _ImageFile(fd, plan.req, unit, pt, layout, plan.dtype)
        out.write(im, consume=True)  # counts npix, frees the pixels
        written[im.ifu] = im

    peak = _fill(pt, plan, done, True, progress, chunk_rows)
    return Streamed([written[i] for i in plan.ifus], peak)


# -- output --------------------------------------------------------------------

#: identity keywords copied from the table's primary header to the output's
_COPIED_KEYWORDS = ("OBJECT", "TELESCOP", "INSTRUME", "DATE-OBS", "MJD-OBS", "EXPTIME", "RA", "DEC")


def image_header(im: DetectorImage, req: Request, unit: str | None) -> fits.Header:
    """Header of one image HDU: linear WCS whose world coordinates are detector pixels."""
    h = fits.Header()
    h["EXTNAME"] = (f"CHAN{im.ifu:02d}", "IFU number, as raw MUSE files name it")
    if unit is not None:
        h["BUNIT"] = (unit, f"unit of the {req.column} column")
    for axis, start in ((1, im.xstart), (2, im.ystart)):
        h[f"CTYPE{axis}"] = "LINEAR"
        h[f"CUNIT{axis}"] = "pix"
        h[f"CRPIX{axis}"] = 1.0
        h[f"CRVAL{axis}"] = (float(start), f"detector {'xy'[axis - 1]} of the first pixel")
        h[f"CDELT{axis}"] = 1.0
    h["PIXBASE"] = (req.base, "first detector pixel (1: DRS, FITS; 0: MPDAF)")
    h["IFU"] = (im.ifu, "IFU of the rows")
    h["EXPOSURE"] = (",".join(map(str, im.exposures)), "exposure number(s) of the rows (0: single)")
    h["COLUMN"] = (req.column, "pixel-table column imaged")
    h["FILL"] = (req.fill, "value of pixels without a row")
    h["NROWS"] = (im.nrows, "table rows written into this image")
    h["NFILLED"] = (im.npix, "pixels holding a value other than the fill")
    return h


_BITPIX = {"f": {4: -32, 8: -64}, "i": {2: 16, 4: 32, 8: 64}, "u": {1: 8}}
_WRITE_BYTES = 1 << 20  # image bytes converted and written at a time


class _ImageFile:
    """The output laid out up front: a header-only primary HDU, then one IMAGE HDU per
    image at offsets fixed by ``layout`` (the images' metadata; ``npix`` may change,
    nothing that sizes a header may). Images are then written in any order."""

    def __init__(
        self, fd: int, req: Request, unit: str | None, source: PixTable, layout: list[DetectorImage], dtype: np.dtype
    ) -> None:
        self.fd, self.req, self.unit = fd, req, unit
        primary = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
        for name in _COPIED_KEYWORDS:
            if name in source.primary_header:
                primary[name] = (source.primary_header[name], source.primary_header.comments[name])
        primary["PIXTABLE"] = (os.path.basename(source.path), "source pixel table")
        primary["PIXBASE"] = (req.base, "first detector pixel (1: DRS, FITS; 0: MPDAF)")
        blob = header_bytes(primary)
        pwrite_all(fd, blob, 0)
        pos = len(blob)
        self.slots: dict[int, tuple[int, int]] = {}  # ifu -> (offset, header bytes)
        for im in layout:
            kind = im.image.dtype if im.image is not None else dtype
            size = len(self._header(im, kind))
            self.slots[im.ifu] = (pos, size)
            pos += size + padded(im.shape[0] * im.shape[1] * kind.itemsize)
        # Padding after each data unit is the zeros of this sparse extent.
        os.ftruncate(fd, pos)

    def _header(self, im: DetectorImage, dtype: np.dtype) -> bytes:
        ny, nx = im.shape
        header = fits.Header(
            [
                ("XTENSION", "IMAGE", "Image extension"),
                ("BITPIX", _BITPIX[dtype.kind][dtype.itemsize]),
                ("NAXIS", 2),
                ("NAXIS1", nx),
                ("NAXIS2", ny),
                ("PCOUNT", 0),
                ("GCOUNT", 1),
            ]
        )
        header.extend(image_header(im, self.req, self.unit))
        return header_bytes(header)

    def write(self, im: DetectorImage, consume: bool) -> None:
        """Write one image's HDU at its slot. With ``consume`` the image is byte-swapped
        in place, ``npix`` counted on the way, and ``im.image`` dropped; otherwise
        converted a block at a time (``npix`` as given)."""
        offset, size = self.slots[im.ifu]
        data = im.image
        assert data is not None
        pos = offset + size
        rows = max(1, _WRITE_BYTES // max(1, data.strides[0]))
        big = data.dtype.newbyteorder(">")
        fill = np.nan if self.req.fill == "nan" else 0
        npix = 0
        for a in range(0, data.shape[0], rows):
            block = data[a : a + rows]
            if consume:
                npix += _filled(block, fill)
                if big != block.dtype:
                    block.byteswap(inplace=True)  # the pixels are not needed afterwards
                buf = block
            else:
                buf = block.astype(big)
            pwrite_all(self.fd, buf, pos + a * data.strides[0])
        if consume:
            im.npix, im.image = npix, None
        header = self._header(im, data.dtype)
        if len(header) != size:
            raise RuntimeError(f"CHAN{im.ifu:02d}: header is {len(header)} bytes, {size} were laid out")
        pwrite_all(self.fd, header, offset)


def write_images(
    fd: int,
    images: list[DetectorImage],
    req: Request,
    unit: str | None,
    source: PixTable,
) -> None:
    """Write a header-only primary HDU and one IMAGE extension per image to ``fd``.

    Images are converted to big-endian a block of rows at a time, so writing
    needs no second copy of them.
    """
    out = _ImageFile(fd, req, unit, source, images, np.dtype(np.float32))
    for im in images:
        out.write(im, consume=False)
