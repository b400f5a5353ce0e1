"""A sky image straight from the pixel table, in one streaming pass.

Rows are binned onto square spaxels of a TAN grid about the table's centre
(north up, east left; pixel tables: a plain grid of focal-plane pixels); spaxel
centres sit at whole multiples of the spaxel size from the tangent point.

Kernels: ``drizzle`` (the default, as the pipeline's drizzle resampler, in the sky
plane only: the band is collapsed) spreads each row over the spaxels its drop
overlaps, a square of pixfrac times the table's own spaxel (0.2" in WFM) centred
on the row, each spaxel weighted by the fraction of the drop it holds; the
spaxel's mean is the weighted mean sum(w v) / sum(w) with variance
sum(w^2 stat) / sum(w)^2, its sum is sum(w v) (flux kept). ``nearest`` drops each
row into the spaxel whose centre is nearest (a narrow band then leaves holes).
Per spaxel the image holds the sum, the mean or the inverse-variance weighted
mean of a column over its rows; a second image counts the rows that touch it,
an optional third holds the variance of the value (from stat). Spaxels without
rows are NaN. Flagged rows (dq != 0) are left out unless asked for.

The drizzle arithmetic is in :mod:`.drizzle` (one scatter per corner of the drop, in
pieces of :data:`PIECE_ROWS` rows), the FITS file in :mod:`.imagefile` (no astropy).

Memory: a few chunks of rows and the float64 sums of the image (8 bytes per
spaxel and quantity), whatever the table size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...fits.cards import copy_cards, printable
from ...fits.header import Header
from .canvas import Block, BinCanvas
from .drizzle import drizzle_block
from ...errors import CriteriaError, InputError
from ...io.plan import PlanOptions
from ...io.scan import RowBatch, Scan
from ...io.criteria import Criteria
from ...io.table import PixTable
from ...progress import SILENT, Progress
from ..explain import empty_selection
from ...io.tangent import Plane

STATISTICS = ("sum", "mean", "wmean")
KERNELS = ("drizzle", "nearest")
#: the pipeline's default pixfrac (muse_scipost_make_cube --pixfrac 0.8,0.8)
PIXFRAC = 0.8
#: MUSE WFM spaxel (arcsec): the input pixel size when the table's header gives none
TABLE_SPAXEL = 0.2
COLUMNS = ("data", "stat", "weight")
#: rows of one piece of the drizzle kernel (its float64 work arrays then stay in the CPU caches)
PIECE_ROWS = 1 << 15
#: header cards copied from the table's primary header
COPIED = ("TELESCOP", "INSTRUME", "OBJECT", "DATE-OBS", "MJD-OBS", "EXPTIME", "RADESYS", "EQUINOX")


@dataclass(frozen=True)
class ImageRequest:
    """What to image. ``spaxel`` in arcsec (pixel tables: in pixels)."""

    spaxel: float = 0.2
    column: str = "data"
    statistic: str = "mean"
    keep_flagged: bool = False
    variance: bool = False
    kernel: str = "drizzle"
    pixfrac: float = PIXFRAC

    def __post_init__(self) -> None:
        if self.kernel not in KERNELS:
            raise CriteriaError(f"kernel must be one of {', '.join(KERNELS)}, not {self.kernel!r}", field="kernel")
        if not (0 < self.pixfrac <= 1):
            raise CriteriaError(f"pixfrac must be in (0, 1], not {self.pixfrac}", field="pixfrac")
        if not (self.spaxel > 0 and math.isfinite(self.spaxel)):
            raise CriteriaError(f"spaxel size must be a positive number, not {self.spaxel}", field="spaxel")
        if self.statistic not in STATISTICS:
            raise CriteriaError(f"statistic must be one of {', '.join(STATISTICS)}, not {self.statistic!r}", field="statistic")
        if self.column not in COLUMNS:
            raise CriteriaError(f"column must be one of {', '.join(COLUMNS)}, not {self.column!r}", field="column")


@dataclass
class SkyImage:
    """The image, its row counts and variance, and the header describing them."""

    image: np.ndarray  # float64, NaN where no row
    nrows: np.ndarray  # int64 rows per spaxel
    variance: np.ndarray | None
    header: Header  # WCS and provenance, for every extension (pixtab's, astropy-free)
    plane: Plane
    spaxel: float  # arcsec (pixels for pixel tables)
    rows: int  # rows binned
    flagged: int  # selected rows left out for dq != 0
    unit: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def celestial(self) -> bool:
        return self.plane.is_sky

    def pixel_to_sky(self, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RA/Dec (deg) of 0-based image positions (col = x, row = y); pixels for pixel tables."""
        h = self.header
        x = (np.asarray(col, dtype=np.float64) + 1 - h["CRPIX1"]) * h["CD1_1"]
        y = (np.asarray(row, dtype=np.float64) + 1 - h["CRPIX2"]) * h["CD2_2"]
        return self.plane.to_sky(x, y) if self.celestial else (x, y)

    def sky_to_pixel(self, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """0-based image positions of RA/Dec (deg)."""
        h = self.header
        x, y = self.plane.from_sky(ra, dec) if self.celestial else (np.asarray(ra, float), np.asarray(dec, float))
        return x / h["CD1_1"] + h["CRPIX1"] - 1, y / h["CD2_2"] + h["CRPIX2"] - 1


class ImageSums:
    """The image's running sums (a :class:`~pixtab.core.io.scan.forked.Accumulator`): the
    spaxels' bins, the rows binned and the flagged rows left out."""

    def __init__(self) -> None:
        self.canvas = BinCanvas(2)
        self.rows = self.flagged = 0

    def add(self, part: tuple[list[Block | None], int, int]) -> None:
        blocks, rows, flagged = part
        for block in blocks:
            self.canvas.add(block)
        self.rows += rows
        self.flagged += flagged

    def merge(self, other: "ImageSums") -> None:
        self.canvas.merge(other.canvas)
        self.rows += other.rows
        self.flagged += other.flagged


def spaxel_bins(plane: Plane, step: float, xpos: np.ndarray, ypos: np.ndarray, buf=None) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """(row, column) bin of each row, as whole numbers in float32 arrays (exact below 2**24);
    ``step`` in degrees (pixels); ``buf``: work arrays."""
    x, y = plane.spaxels32(xpos, ypos, 1.0 / step, buf)
    if plane.is_sky:
        np.negative(x, out=x)  # east to the left
    x += np.float32(0.5)
    y += np.float32(0.5)
    return np.floor(y, out=y), np.floor(x, out=x)


def _table_spaxel(pt: PixTable, plane: Plane) -> float:
    """The table's own spaxel (arcsec; 1 for pixel tables): the size of a row's drop before pixfrac."""
    if not plane.is_sky:
        return 1.0
    cd = pt.primary_header.get("CD2_2")
    return abs(float(cd)) * 3600.0 if isinstance(cd, (int, float)) and cd else TABLE_SPAXEL


def make_image(
    pt: PixTable, criteria: Criteria, req: ImageRequest, progress: Progress = SILENT, plan: PlanOptions | None = None
) -> SkyImage:
    """Bin the selected rows of ``pt`` onto a sky grid (one streaming pass)."""
    plane = Plane.of(pt)
    if req.column not in pt.columns:
        raise InputError(pt.path, f"no {req.column} column to image", field="column")
    step = req.spaxel / 3600.0 if plane.is_sky else req.spaxel
    need_stat = req.statistic == "wmean" or req.variance
    columns = ["xpos", "ypos", req.column] + (["stat"] if need_stat and req.column != "stat" else [])

    drop_size = 0.0 if req.kernel == "nearest" else req.pixfrac * _table_spaxel(pt, plane) / req.spaxel  # in output spaxels

    def reduce(batch: RowBatch) -> tuple[list[Block | None], int, int]:
        if len(batch) == 0:
            return [], 0, batch.flagged
        kept = len(batch) - (batch.flagged if batch.drop is not None else 0)
        v, stat = batch[req.column], (batch["stat"] if need_stat else None)
        inv = None
        if req.statistic == "wmean":
            with np.errstate(divide="ignore", invalid="ignore"):
                inv = np.where(stat > 0, 1.0 / stat.astype(np.float64), 0.0)  # type: ignore[union-attr]
        if drop_size > 0:  # in pieces whose work arrays stay in the CPU caches
            buf = lambda name, n, dtype=np.float32: batch.scratch.get("image " + name, n, dtype)  # noqa: E731
            blocks = []
            for a in range(0, len(batch), PIECE_ROWS):
                piece = slice(a, a + PIECE_ROWS)
                x, y = plane.spaxels32(batch["xpos"][piece], batch["ypos"][piece], 1.0 / step, buf)
                if plane.is_sky:
                    np.negative(x, out=x)  # east to the left
                blocks.append(drizzle_block(
                    y, x, drop_size, v[piece], None if inv is None else inv[piece], stat[piece] if req.variance else None,  # type: ignore[index]
                    None if batch.drop is None else batch.drop[piece], buf))
            return blocks, kept, batch.flagged
        row, col = spaxel_bins(plane, step, batch["xpos"], batch["ypos"], lambda name, n: batch.scratch.get("image " + name, n, np.float32))
        w = inv if inv is not None else np.ones(len(batch))
        values: dict[str, np.ndarray | None] = {"n": None, "w": w, "wv": w * v}
        if req.variance:
            values["var"] = w * w * stat  # type: ignore[operator]
        return [Block.of((row, col), values, batch.drop)], kept, batch.flagged

    total = Scan(pt, criteria, plan, progress).fold(columns, reduce, ImageSums, req.keep_flagged, dense=True, phase="image")
    rows, flagged = total.rows, total.flagged
    if rows == 0:
        raise empty_selection(pt, criteria, flagged)
    (row0, col0), sums = total.canvas.trimmed("n")
    n = np.rint(sums["n"]).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        held = sums["w"] > 0
        if req.statistic == "sum":  # the weights are the fractions of each row's drop: flux is kept
            image = np.where(n > 0, sums["wv"], np.nan)
            var = sums["var"] if req.variance else None
        else:  # mean: weights = fractions; wmean: fractions / stat
            image = np.where(held, sums["wv"] / sums["w"], np.nan)
            if req.statistic == "wmean":
                var = 1.0 / sums["w"] if req.variance else None
            else:
                var = sums["var"] / sums["w"] ** 2 if req.variance else None
    if var is not None:
        var = np.where(n > 0, var, np.nan)
    unit = pt.columns[req.column].unit
    header = image_header(pt, plane, req, step, row0, col0, criteria, rows, flagged)
    notes = [] if plane.is_sky else [f"{pt.path} is a pixel-unit table: the image is in focal-plane pixels, without a celestial WCS"]
    return SkyImage(image, n, var, header, plane, req.spaxel, rows, flagged, unit, notes)


def image_header(
    pt: PixTable, plane: Plane, req: ImageRequest, step: float, row0: int, col0: int, criteria: Criteria, rows: int, flagged: int
) -> Header:
    """WCS and provenance of the image (every extension's cards after the structural ones)."""
    h = Header()
    copy_cards(pt.primary_header, h, COPIED)
    h["WCSAXES"] = 2
    if plane.is_sky:
        # Bin (row, col) has its centre at plane x = -col * step, y = row * step.
        h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
        h["CUNIT1"], h["CUNIT2"] = "deg", "deg"
        h["CRVAL1"] = (plane.ra0, "[deg] tangent point: the table's centre")
        h["CRVAL2"] = (plane.dec0, "[deg] tangent point: the table's centre")
        h["CRPIX1"], h["CRPIX2"] = float(1 - col0), float(1 - row0)
        h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = -step, 0.0, 0.0, step
        if "RADESYS" not in h:
            h["RADESYS"] = "ICRS"
    else:
        h["CTYPE1"], h["CTYPE2"] = "LINEAR", "LINEAR"
        h["CUNIT1"], h["CUNIT2"] = "pixel", "pixel"
        h["CRVAL1"], h["CRVAL2"] = 0.0, 0.0
        h["CRPIX1"], h["CRPIX2"] = float(1 - col0), float(1 - row0)
        h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = step, 0.0, 0.0, step
        h.append(("COMMENT", "pixel-unit table: world coordinates are focal-plane xpos/ypos, not sky"))
    h["HIERARCH PIXTAB IMAGE INPUT"] = printable(pt.path, keep_last=60)
    h["HIERARCH PIXTAB IMAGE COLUMN"] = req.column
    h["HIERARCH PIXTAB IMAGE STAT"] = (req.statistic, "statistic over the rows of a spaxel")
    h["HIERARCH PIXTAB IMAGE SPAXEL"] = (req.spaxel, "[arcsec] spaxel size" if plane.is_sky else "[pix] spaxel size")
    span = criteria.lambda_span()
    if span is not None:
        h["HIERARCH PIXTAB IMAGE LAMBDA LO"] = (span[0], "[Angstrom] lowest wavelength kept")
        h["HIERARCH PIXTAB IMAGE LAMBDA HI"] = (span[1], "[Angstrom] wavelength cut (excluded)")
    h["HIERARCH PIXTAB IMAGE ROWS"] = (rows, "rows binned")
    h["HIERARCH PIXTAB IMAGE FLAGGED"] = (flagged, "selected rows left out for dq != 0")
    return h
