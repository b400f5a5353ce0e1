"""The one seam between the Python API (and the MPDAF facade) and the core's row engine.

Everything the API needs from the selection/copy passes goes through these few
functions, so that moving to another engine changes this file only:
``select`` (plan and run the selection pass), ``narrow``, ``rows`` (row indices),
``iter_rows`` (the selected rows of some columns, block by block, reading only
blocks that hold selected rows), ``write`` (the extract writer, atomic), and
the measuring operations (image, spectrum, fit, reconstruct_det).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from ..core.fits.atomic import atomic_output
from ..core.io.plan import PlanOptions
from ..core.io.scan import Scan, Selection
from ..core.io.criteria import Aperture, Criteria, ccd_slices
from ..core.io.table import Chunk, PixTable
from ..core.ops.extract import check_columns, check_selection, write_selection
from ..core.format.rowset import RowSet
from ..core.format.skymask import SkyMask, SkyRegions

__all__ = ["Aperture", "Criteria", "PixTable", "RowSet", "Selection", "SkyMask", "SkyRegions", "ccd_slices", "mask_column", "fit", "image", "iter_chunks", "iter_rows", "narrow", "reconstruct_det", "rows", "select", "spectrum", "write", "write_replaced"]


def select(pt: PixTable, criteria: Criteria, full_scan: bool = False) -> Selection:
    """Plan and run the selection pass of ``criteria`` over ``pt`` (as ``pixtab extract``);
    ``full_scan``: test every row (no index, no use of the row order)."""
    return Scan(pt, criteria, PlanOptions(full_scan=full_scan)).select()


def narrow(selection: Selection, criteria: Criteria) -> Selection:
    """The rows of ``selection`` that also meet ``criteria`` (reads only chunks with rows)."""
    return selection.narrow(criteria)


def rows(selection: Selection) -> np.ndarray:
    """Sorted int64 indices of the selected rows."""
    return selection.rows


def iter_rows(pt: PixTable, names: Sequence[str], selection: Selection | None) -> Iterator[tuple[np.ndarray | range, dict[str, np.ndarray]]]:
    """``(rows, arrays)`` of the selected rows, in order (all rows without a selection),
    reading only the blocks that hold selected rows."""
    yield from Scan(pt).copy(selection, list(names))


def iter_chunks(pt: PixTable, names: Sequence[str] | None, start: int, stop: int | None, chunk_rows: int,
                native: bool) -> Iterator[Chunk]:
    """Every row of ``start..stop-1`` in chunks, in order, read ahead on the scan's workers."""
    yield from Scan(pt).chunks(names, start, stop, chunk_rows, native)


def write(
    pt: PixTable,
    selection: Selection,
    criteria: Criteria,
    path: str | os.PathLike[str],
    layout: str = "image",
    overwrite: bool = False,
    allow_empty: bool = False,
) -> None:
    """Write the selected rows to ``path`` exactly as ``pixtab extract`` does (atomic)."""
    check_columns(pt)
    check_selection(pt, selection, allow_empty)
    with atomic_output(path, overwrite) as fd:
        write_selection(pt, selection, criteria, fd, layout)


def write_replaced(
    pt: PixTable,
    selection: Selection,
    criteria: Criteria,
    path: str | os.PathLike[str],
    replaced: dict[str, np.ndarray],
    layout: str = "image",
    overwrite: bool = False,
) -> None:
    """:func:`write`, with the selected rows of some columns replaced by ``replaced``
    (one value per selected row, in the column's type): LIMITS follow the new values."""
    from ..core.ops.extract import finish_output, open_output

    check_columns(pt)
    check_selection(pt, selection, False)
    names = list(pt.columns)
    with atomic_output(path, overwrite) as fd:
        header, sink = open_output(pt, selection, criteria, fd, layout, False)
        done = 0
        for rows_, arrays in iter_rows(pt, names, selection):
            n = len(rows_)
            for name, values in replaced.items():
                arrays[name] = values[done : done + n]
            done += n
            sink.add(np.asarray(rows_), dict(arrays))
        finish_output(pt, selection, header, sink)


# -- the measuring operations (as the commands run them) --------------------------------


def image(pt: PixTable, criteria: Criteria, spaxel: float, column: str, statistic: str, keep_flagged: bool, variance: bool):  # type: ignore[no-untyped-def]
    from ..core.ops.measure.image import ImageRequest, make_image
    from ..core.ops.measure.imagefile import to_hdulist

    return to_hdulist(make_image(pt, criteria, ImageRequest(spaxel, column, statistic, keep_flagged, variance)))


def spectrum(pt: PixTable, criteria: Criteria, width: float, keep_flagged: bool):  # type: ignore[no-untyped-def]
    from ..core.ops.measure.spectrum import make_spectrum

    return make_spectrum(pt, criteria, width, keep_flagged)


def fit(pt: PixTable, criteria: Criteria, model: str, background: bool, bins: int | None, width: float | None, fwhm0: float) -> list[dict]:
    from ..core.ops.measure.fit import FitRequest, fit_table

    return fit_table(pt, criteria, FitRequest(model, background, bins, width, fwhm0))[0]


def reconstruct_det(pt: PixTable, path: str, **request: object) -> None:
    """Detector images of ``pt`` into the new file ``path`` (as ``pixtab reconstruct-det``)."""
    from ..core.ops.reconstruct import Request, survey, write_streamed

    req = Request(**request)  # type: ignore[arg-type]
    plan = survey(pt, req)
    with atomic_output(path, False) as fd:
        write_streamed(fd, pt, plan, pt.columns[req.column].unit)


def mask_column(pt: PixTable, maskfile: str) -> np.ndarray:
    """MPDAF's ``mask_column`` booleans of ``pt`` for a sky mask image (one pass, planned)."""
    from ..core.ops.sky.maskcol import mask_column as column

    return column(pt, maskfile)
