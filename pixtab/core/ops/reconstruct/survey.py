"""Plan the detector images of a request: the first pass (:func:`survey`) reads only
``origin`` and finds, per IFU, the rows selected, their bounding box and exposures,
and the first and last row where the IFU occurs (skipped when one IFU and a finite
window are given). The :class:`DetectorPlan` fixes each image's bounds, type and fill.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...errors import CriteriaError, EmptySelectionError
from ...format import origin as org
from ...format.exposures import ExposureMap
from ...io.plan import intersect, plan_rows
from ...io.criteria import Criteria
from ...io.selection import Selector
from ...io.scan import Scan
from ...io.table import PixTable
from ...progress import SILENT, Progress
from .canvas import image_dtype
from .request import DetectorImage, Request, check_against, ifu_words
from .rows import Part, RowParts


@dataclass
class Box:
    """Per-IFU survey: rows, inclusive 0-based bounds, exposures, first and last table row."""

    nrows: int = 0
    x0: int = org.CCD_NX
    x1: int = -1
    y0: int = org.CCD_NY
    y1: int = -1
    exps: set[int] = field(default_factory=set)
    first: int = -1
    last: int = -1

    def add(self, p: Part) -> None:
        self.nrows += len(p.x)
        self.x0, self.x1 = min(self.x0, int(p.x.min())), max(self.x1, int(p.x.max()))
        self.y0, self.y1 = min(self.y0, int(p.y.min())), max(self.y1, int(p.y.max()))
        self.exps.add(p.exp)
        self.first = p.first if self.first < 0 else self.first
        self.last = p.last

    def merge(self, later: Box) -> None:
        """Add the survey of later rows."""
        self.nrows += later.nrows
        self.x0, self.x1 = min(self.x0, later.x0), max(self.x1, later.x1)
        self.y0, self.y1 = min(self.y0, later.y0), max(self.y1, later.y1)
        self.exps |= later.exps
        self.first = later.first if self.first < 0 else self.first
        self.last = later.last


def _survey(
    pt: PixTable, select: RowParts, rows: tuple[int, int], chunk_rows: int | None, progress: Progress
) -> dict[int, Box]:
    """First pass over ``origin`` only: rows, bounding box, exposures and row span of each IFU
    selected (each chunk surveyed on the scan's workers, the boxes merged in row order)."""
    scan = Scan(pt, progress=progress, chunk_rows=chunk_rows)
    names = ["origin", *select.columns]

    def work(k: int, span: tuple[int, int], scratch: object) -> dict[int, Box]:
        arrays = pt.read(names, *span)
        found: dict[int, Box] = {}
        for part in select(arrays["origin"], span[0], arrays):
            found.setdefault(part.ifu, Box()).add(part)
        return found

    boxes: dict[int, Box] = {}
    for (a, b), found in scan.each([(a, b) for a, b, _ in scan.copy_spans(None, *rows)], work):
        progress.advance(b - a)
        for i, box in found.items():
            boxes.setdefault(i, Box()).merge(box)
    return boxes


def planned_rows(pt: PixTable, req: Request, rows: tuple[int, int]) -> tuple[int, int]:
    """The part of ``rows`` that can hold the IFUs asked for (the hull of what the read planner
    of :mod:`pixtab.core.io.plan` finds: an index, or the pipeline row order)."""
    if not req.ifus:
        return rows
    spans = intersect(plan_rows(Selector(pt, Criteria(ifus=list(req.ifus)))).ranges, [rows])
    return (spans[0][0], spans[-1][1]) if spans else (rows[0], rows[0])


def _choose_ifus(pt: PixTable, req: Request, boxes: dict[int, Box]) -> list[int]:
    present = sorted(i for i, b in boxes.items() if b.nrows)
    if not present:
        raise EmptySelectionError(f"{pt.path}: no rows{req.describe()}: nothing to reconstruct")
    if req.all_ifus:
        return present
    missing = [i for i in req.ifus if i not in present]
    if missing:
        raise EmptySelectionError(f"{pt.path}: no rows of {ifu_words(tuple(missing))} "
                                  f"(rows found for {ifu_words(tuple(present))}): nothing written")
    if not req.ifus and len(present) > 1:
        raise CriteriaError(f"{pt.path} holds rows of IFUs {', '.join(map(str, present))}", field="one_ifu")
    return present


def _bounds(req: Request, box: Box | None) -> tuple[int, int, int, int]:
    """0-based half-open image bounds (x0, x1, y0, y1)."""
    if req.full_ccd:
        return 0, org.CCD_NX, 0, org.CCD_NY
    wx0, wx1, wy0, wy1 = req.window0()
    pick = lambda w, b: int(w) if math.isfinite(w) else b  # noqa: E731
    if box is None:
        return int(wx0), int(wx1), int(wy0), int(wy1)
    return pick(wx0, box.x0), pick(wx1, box.x1 + 1), pick(wy0, box.y0), pick(wy1, box.y1 + 1)


def needs_survey(req: Request) -> bool:
    """True when a first pass over ``origin`` is needed (IFUs present, bounding boxes)."""
    window_known = req.full_ccd or all(
        r is not None and math.isfinite(r[0]) and math.isfinite(r[1]) for r in (req.xpix, req.ypix)
    )
    return not req.ifus or not window_known


@dataclass
class DetectorPlan:
    """The images to make (from the first pass, or from the request alone)."""

    req: Request
    rows: tuple[int, int]  # table rows read
    ifus: list[int]  # in output order
    bounds: dict[int, tuple[int, int, int, int]]  # 0-based half-open (x0, x1, y0, y1)
    dtype: np.dtype
    fill: float
    tags: dict[int, int]  # exposure -> tag (1, 2, ...)
    boxes: dict[int, Box] | None  # None when the first pass was skipped
    path: str

    def provisional(self, ifu: int) -> DetectorImage:
        """The image's metadata as the survey predicts it (``npix`` unknown): fixes header sizes."""
        x0, x1, y0, y1 = self.bounds[ifu]
        box = self.boxes[ifu] if self.boxes is not None else Box(exps=set(self.tags) or {0})
        b = self.req.base
        return DetectorImage(ifu, sorted(box.exps), x0 + b, y0 + b, (y1 - y0, x1 - x0), box.nrows)

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


def survey(pt: PixTable, req: Request, progress: Progress = SILENT, chunk_rows: int | None = None) -> DetectorPlan:
    """Check ``req`` against the table and plan the images (phase ``survey``: a first
    pass over ``origin``, when needed).

    Raises :class:`InputError` when the column or the exposure is not in the
    table, :class:`CriteriaError` (a usage error) when the table holds several
    IFUs and neither ``ifu`` nor ``all_ifus`` is given, and
    :class:`EmptySelectionError` when the first pass selects no row.
    """
    check_against(pt, req)
    rows = planned_rows(pt, req, ExposureMap(pt.keywords.exposures, pt.nrows).rows_of(req.exp))
    boxes: dict[int, Box] | None = None
    if not needs_survey(req):
        ifus = list(req.ifus)
        exps_possible = {req.exp} if req.exp is not None else {e.exp for e in pt.keywords.exposures}
    else:
        progress.start("survey", rows[1] - rows[0])
        boxes = _survey(pt, RowParts(pt, req), rows, chunk_rows, progress)
        ifus = _choose_ifus(pt, req, boxes)
        exps_possible = set().union(*(boxes[i].exps for i in ifus))
    return DetectorPlan(
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
