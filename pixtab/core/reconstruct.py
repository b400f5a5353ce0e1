"""Detector images from a pixel table (``pixtab reconstruct-det``).

Each selected row goes to ``image[y - ystart, x - xstart]`` of its IFU's image
(the last row written wins, as in MPDAF); pixels without a row hold the fill
value. Images cover the bounding box of the rows present (MPDAF's default), a
half-open window, or the full 4096 x 4112 CCD.

Memory: the table is streamed twice in chunks. The first pass reads only the
``origin`` column and finds, per IFU, the rows present and their bounding box
(it is skipped when one IFU and a finite window are given); the second pass
reads ``origin`` and the chosen column and fills the images. Only the output
images stay in RAM, each on its own IFU's bounding box and in the column's own
type (float32 for data/lambda/stat/weight), so ``--all-ifus`` on a full
24-IFU exposure needs about 24 x 4048 x 4112 x 4 bytes = 1.6 GB; one IFU about
67 MB. When several exposures may meet in one image, a uint8 tag per pixel
(25% more) records which exposure wrote it, to detect overlaps.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from . import origin as org
from .errors import CriteriaError, EmptySelectionError
from .fitsfile import header_bytes, pad_bytes
from .table import DEFAULT_CHUNK_ROWS, PixTable

#: columns that can be imaged
IMAGE_COLUMNS = ("data", "lambda", "stat", "dq", "weight")

Progress = Callable[[int], None]


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
    ``image[0, 0]`` in the request's base."""

    ifu: int
    exposures: list[int]
    xstart: int
    ystart: int
    image: np.ndarray
    nrows: int = 0  # rows written
    npix: int = 0  # pixels holding a value other than the fill


@dataclass
class _Box:
    """Per-IFU survey: rows, inclusive 0-based bounds, exposures present."""

    nrows: int = 0
    x0: int = org.CCD_NX
    x1: int = -1
    y0: int = org.CCD_NY
    y1: int = -1
    exps: set[int] = field(default_factory=set)

    def add(self, x: np.ndarray, y: np.ndarray, exp: np.ndarray) -> None:
        self.nrows += len(x)
        self.x0, self.x1 = min(self.x0, int(x.min())), max(self.x1, int(x.max()))
        self.y0, self.y1 = min(self.y0, int(y.min())), max(self.y1, int(y.max()))
        self.exps.update(np.unique(exp).tolist())


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


class _Selector:
    """Filters and decodes one chunk: IFU, exposure, then detector pixels in the window."""

    def __init__(self, pt: PixTable, req: Request) -> None:
        self.req = req
        self.exposures = pt.keywords.exposures
        self.xoffsets = org.XOffsets(pt.keywords.xoffsets, pt.path)
        self.window = _window0(req)

    def __call__(self, origin: np.ndarray, start: int) -> tuple[np.ndarray, ...]:
        """(indices into the chunk, ifu, exp, x, y) of the selected rows; 0-based pixels."""
        ifu = org.get_ifu(origin)
        exp = org.exposure_of_rows(start, start + len(origin), self.exposures)
        keep = np.ones(len(origin), dtype=bool)
        if self.req.ifu is not None:
            keep &= ifu == self.req.ifu
        if self.req.exp is not None:
            keep &= exp == self.req.exp
        idx = np.flatnonzero(keep)
        # XOFFSET lookups (and their errors) only for the rows selected so far.
        x, y = org.detector_xy(origin[idx], exp[idx], self.xoffsets, zero_based=True)
        x0, x1, y0, y1 = self.window
        inside = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
        if not inside.all():
            idx, x, y = idx[inside], x[inside], y[inside]
        return idx, ifu[idx], exp[idx], x, y


def _ifus_in(ifu: np.ndarray) -> list[int]:
    """IFU numbers present in an array of IFU fields (a linear-time count, no sort)."""
    return np.flatnonzero(np.bincount(ifu, minlength=org.IFU_MASK + 1)).tolist()


def _survey(
    pt: PixTable, select: _Selector, rows: tuple[int, int], chunk_rows: int, progress: Progress | None
) -> dict[int, _Box]:
    """First pass over ``origin`` only: rows, bounding box and exposures of each IFU selected."""
    boxes: dict[int, _Box] = {}
    for chunk in pt.iter_chunks(["origin"], rows[0], rows[1], chunk_rows):
        _, ifu, exp, x, y = select(chunk["origin"], chunk.start)
        for i in _ifus_in(ifu):
            m = ifu == i
            boxes.setdefault(i, _Box()).add(x[m], y[m], exp[m])
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


class _Canvas:
    """One IFU's image being filled, with an optional exposure tag per pixel."""

    def __init__(
        self, ifu: int, bounds: tuple[int, int, int, int], dtype: np.dtype, fill: float, ntags: int
    ) -> None:
        self.ifu = ifu
        self.x0, x1, self.y0, y1 = bounds
        self.image = np.full((y1 - self.y0, x1 - self.x0), fill, dtype=dtype)
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
        """Write rows of exposure ``exp`` (0-based pixels); refuse a pixel another exposure wrote."""
        iy, ix = y - self.y0, x - self.x0
        tag = tags.get(exp, 1)
        if self.tagged:
            seen = self.written[iy, ix]
            clash = (seen != 0) & (seen != tag)
            if clash.any():
                k = int(np.argmax(clash))
                other = next(e for e, t in tags.items() if t == seen[k])
                raise CriteriaError(
                    f"IFU {self.ifu}: exposures {other} and {exp} both have rows on detector pixel "
                    f"x={int(x[k]) + base}, y={int(y[k]) + base}: choose one with --exp K"
                )
        self.image[iy, ix] = values  # the last row written wins
        if self.tagged:
            self.written[iy, ix] = tag
        self.nrows += len(x)
        self.exps.add(exp)

    def _npix(self) -> int:
        """Pixels not holding the fill value (counted in row blocks: no full-size temporary)."""
        n = 0
        for a in range(0, self.image.shape[0], 256):
            block = self.image[a : a + 256]
            n += int(np.count_nonzero(~np.isnan(block) if np.isnan(self.fill) else block != self.fill))
        return n

    def result(self, base: int) -> DetectorImage:
        return DetectorImage(
            self.ifu,
            sorted(self.exps),
            self.x0 + base,
            self.y0 + base,
            self.image,
            self.nrows,
            self._npix(),
        )


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


def reconstruct(
    pt: PixTable,
    req: Request,
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> list[DetectorImage]:
    """Detector images of ``req.column``: one image, or one per IFU with ``all_ifus``.

    Raises :class:`CriteriaError` (a usage error) when the table holds several
    IFUs and neither ``ifu`` nor ``all_ifus`` is given, or when two exposures
    put rows on the same pixel and no ``exp`` is given; and
    :class:`EmptySelectionError` when no row is selected. ``progress`` is
    called with the number of rows done in each pass (two passes of
    ``rows`` rows, or one when the survey is skipped).
    """
    _check_request(pt, req)
    select = _Selector(pt, req)
    rows = _row_range(pt, req)
    if not needs_survey(req):
        boxes = None  # nothing to learn from a first pass
        ifus = [req.ifu]
        exps_possible = {req.exp} if req.exp is not None else {e.exp for e in pt.keywords.exposures}
    else:
        boxes = _survey(pt, select, rows, chunk_rows, progress)
        ifus = _choose_ifus(pt, req, boxes)
        exps_possible = set().union(*(boxes[i].exps for i in ifus))
    dtype = image_dtype(pt.columns[req.column].dtype, req.fill)
    fill = np.nan if req.fill == "nan" else 0
    tags = {e: k + 1 for k, e in enumerate(sorted(exps_possible))}
    canvases = {i: _Canvas(i, _bounds(req, boxes[i] if boxes else None), dtype, fill, len(tags)) for i in ifus}
    for chunk in pt.iter_chunks(["origin", req.column], rows[0], rows[1], chunk_rows):
        idx, ifu, exp, x, y = select(chunk["origin"], chunk.start)
        values = chunk[req.column][idx]
        for i in _ifus_in(ifu):
            canvas = canvases.get(i)
            if canvas is None:
                continue
            m = ifu == i
            ei, xi, yi, vi = exp[m], x[m], y[m], values[m]
            # Exposures occupy consecutive rows: fill them in row order, one at a time.
            cuts = np.flatnonzero(np.diff(ei)) + 1
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(ei)]):
                e = int(ei[a])
                canvas.put(xi[a:b], yi[a:b], vi[a:b], e, tags, req.base)
        if progress:
            progress(len(chunk))
    images = [c.result(req.base) for c in canvases.values()]
    if not any(im.nrows for im in images):
        raise EmptySelectionError(f"{pt.path}: no rows{_describe(req)}: nothing to reconstruct")
    return images


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
_WRITE_ROWS = 256  # image rows byte-swapped at a time while writing


def write_images(
    fd: int,
    images: list[DetectorImage],
    req: Request,
    unit: str | None,
    source: PixTable,
) -> None:
    """Write a header-only primary HDU and one IMAGE extension per image to ``fd``.

    Images are converted to big-endian a few rows at a time, so writing needs
    no second copy of them.
    """
    primary = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
    for name in _COPIED_KEYWORDS:
        if name in source.primary_header:
            primary[name] = (source.primary_header[name], source.primary_header.comments[name])
    primary["PIXTABLE"] = (os.path.basename(source.path), "source pixel table")
    primary["PIXBASE"] = (req.base, "first detector pixel (1: DRS, FITS; 0: MPDAF)")
    with os.fdopen(os.dup(fd), "wb") as f:
        f.write(header_bytes(primary))
        for im in images:
            data = im.image
            ny, nx = data.shape
            header = fits.Header(
                [
                    ("XTENSION", "IMAGE", "Image extension"),
                    ("BITPIX", _BITPIX[data.dtype.kind][data.dtype.itemsize]),
                    ("NAXIS", 2),
                    ("NAXIS1", nx),
                    ("NAXIS2", ny),
                    ("PCOUNT", 0),
                    ("GCOUNT", 1),
                ]
            )
            header.extend(image_header(im, req, unit))
            f.write(header_bytes(header))
            big = data.dtype.newbyteorder(">")
            for a in range(0, ny, _WRITE_ROWS):
                f.write(data[a : a + _WRITE_ROWS].astype(big).tobytes())
            f.write(pad_bytes(data.nbytes))
