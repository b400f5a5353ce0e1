"""The second pass of reconstruct-det: fill the planned images from ``origin`` and the
column, and write each one out (then free it) once the stream has passed its IFU.

In a pipeline-ordered table each IFU of an exposure is one contiguous run of
rows, so one image (two when runs interleave at their ends) is alive at a time,
whatever the table size. When IFUs interleave (unsorted tables, or all IFUs
over several exposures without choosing one, where each IFU spans every
exposure), every image whose row span covers the current row is alive: up to
all of them, 24 x 67 MB = 1.6 GB for a full exposure (a debug message says so).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ...errors import CriteriaError, EmptySelectionError
from ...io.scan import Scan
from ...io.table import PixTable
from ...progress import SILENT, Progress
from .canvas import DetectorCanvas, Clash, flat_index
from .imagefile import ImageFile
from .request import DetectorImage
from .rows import RowParts
from .survey import DetectorPlan

log = logging.getLogger(__name__)


def fill(
    pt: PixTable,
    plan: DetectorPlan,
    done: Callable[[DetectorImage, np.ndarray], None],
    release: bool,
    progress: Progress = SILENT,
    chunk_rows: int | None = None,
) -> int:
    """Second pass (phase ``fill``): fill the images and hand each finished one to
    ``done(image, pixels)``, in any order.

    An image is allocated at the IFU's first row; with ``release`` (and a first
    pass) it is finished and dropped right after the IFU's last row, else at the
    end. Returns the most images alive at once.
    """
    req = plan.req
    select = RowParts(pt, req)
    last = {i: plan.boxes[i].last for i in plan.ifus} if (plan.boxes is not None and release) else {}
    alive: dict[int, DetectorCanvas] = {}
    finished: set[int] = set()
    peak = 0
    spare: np.ndarray | None = None  # memory of the last image written out, for the next one

    def canvas(i: int) -> DetectorCanvas:
        nonlocal peak, spare
        if i not in alive:
            x0, x1, y0, y1 = plan.bounds[i]
            if spare is not None and spare.size < (x1 - x0) * (y1 - y0):
                spare = None  # too small: freed before the new image is allocated
            alive[i] = DetectorCanvas(i, plan.bounds[i], plan.dtype, plan.fill, len(plan.tags), spare)
            spare = None
            peak = max(peak, len(alive))
        return alive[i]

    def finish(i: int) -> None:
        nonlocal spare
        c = alive.pop(i)
        done(c.result(req.base), c.image)
        finished.add(i)
        if release:
            spare = c.buffer

    wanted = set(plan.ifus)
    progress.start("fill", plan.rows[1] - plan.rows[0])
    names = list(dict.fromkeys(["origin", req.column, *select.columns]))
    scan = Scan(pt, progress=progress, chunk_rows=chunk_rows)

    def work(k: int, span: tuple[int, int], scratch: object) -> list[tuple[int, int, int, np.ndarray, np.ndarray]]:
        """On the workers: read, decode and cut a chunk; (IFU, exposure, last row, pixel
        index, values) of each part, in row order."""
        arrays = pt.read(names, *span)
        values = arrays[req.column]
        return [(p.ifu, p.exp, p.last, flat_index(p.x, p.y, plan.bounds[p.ifu]), values[p.rows])
                for p in select(arrays["origin"], span[0], arrays) if p.ifu in wanted]

    for (a, b), parts in scan.each([(a, b) for a, b, _ in scan.copy_spans(None, *plan.rows)], work):
        progress.advance(b - a)
        clashes: dict[int, CriteriaError] = {}
        for ifu, exp, final_row, flat, values in parts:
            if ifu in clashes:
                continue
            try:
                canvas(ifu).put_flat(flat, values, exp, plan.tags, req.base)
            except Clash as c:
                clashes[ifu] = c.error
                continue
            if last.get(ifu) == final_row:
                finish(ifu)
        if clashes:  # as filling IFU by IFU would: the lowest IFU's first clash
            raise clashes[min(clashes)]
    if plan.boxes is None and not any(c.nrows for c in alive.values()):
        raise EmptySelectionError(f"{plan.path}: no rows{req.describe()}: nothing to reconstruct")
    for i in plan.ifus:  # the rest, in output order (an IFU without rows: fill only)
        if i not in finished:
            canvas(i)
            finish(i)
    return peak


@dataclass
class Streamed:
    """What :func:`write_streamed` wrote: the images in file order, and the most
    images that were alive at once."""

    images: list[DetectorImage]
    max_alive: int


def write_streamed(
    fd: int,
    pt: PixTable,
    plan: DetectorPlan,
    unit: str | None,
    progress: Progress = SILENT,
    chunk_rows: int | None = None,
) -> Streamed:
    """Second pass of :func:`survey`'s plan, written to the open file ``fd``.

    Each image is written at its precomputed offset and freed as soon as the
    stream has passed its IFU's last row. Raises :class:`CriteriaError` (a
    usage error) when two exposures put rows on one pixel of an image and
    :class:`EmptySelectionError` when no row is selected; the file is then
    incomplete (the caller's atomic output removes it).
    """
    overlap = plan.max_overlap()
    if overlap > 1:
        log.debug("%s: IFUs interleave in row order: up to %d images in memory at once", plan.path, overlap)
    written: dict[int, DetectorImage] = {}
    out: ImageFile | None = None

    def done(im: DetectorImage, pixels: np.ndarray) -> None:
        nonlocal out
        if out is None:  # laid out once the first image is known (the only one when there is no survey)
            layout = [im if i == im.ifu else plan.provisional(i) for i in plan.ifus]
            out = ImageFile(fd, plan.req, unit, pt, layout, plan.dtype)
        written[im.ifu] = replace(im, npix=out.write(im, pixels))

    peak = fill(pt, plan, done, True, progress, chunk_rows)
    return Streamed([written[i] for i in plan.ifus], peak)
