"""The one seam between the Python API (and the MPDAF facade) and the core's row engine.

Everything the API needs from the selection/copy passes goes through these few
functions, so that moving to another engine changes this file only:
``select`` (plan and run the selection pass), ``rows`` (its row indices),
``iter_rows`` (the selected rows of some columns, block by block, reading only
blocks that hold selected rows) and ``write`` (the extract writer, atomic).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from ..core.fits.atomic import atomic_output
from ..core.io.plan import PlanOptions
from ..core.io.selection import Criteria
from ..core.io.table import PixTable
from ..core.ops.extract import Selection, check_columns, check_selection, select_rows, write_selection
from ..core.ops.selected import iter_selected

__all__ = ["Criteria", "PixTable", "Selection", "iter_rows", "rows", "select", "write"]


def select(pt: PixTable, criteria: Criteria, full_scan: bool = False) -> Selection:
    """Plan and run the selection pass of ``criteria`` over ``pt`` (as ``pixtab extract``)."""
    if full_scan != criteria.full_scan:
        criteria = Criteria(**{**criteria.__dict__, "full_scan": full_scan})
    return select_rows(pt, criteria, plan=PlanOptions())


def rows(selection: Selection) -> np.ndarray:
    """Sorted int64 indices of the selected rows."""
    parts = [cs.indices() + cs.start for cs in selection.chunks if cs.count]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def iter_rows(pt: PixTable, names: Sequence[str], selection: Selection | None) -> Iterator[tuple[np.ndarray | range, dict[str, np.ndarray]]]:
    """``(rows, arrays)`` of the selected rows, in order (all rows without a selection)."""
    yield from iter_selected(pt, list(names), selection)


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
