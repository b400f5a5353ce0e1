"""A row mask of a table: one boolean per row, True where the criteria select the row.

With a sky mask alone it is MPDAF's ``mask_column`` (a ``PixTableMask`` file,
:mod:`pixtab.core.format.pixmask`), computed in one streaming pass: the
selection runs chunk by chunk (planned like any other) and the booleans are
written in row order as they come, ranges the planner rules out as False.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ...format import pixmask
from ...io.plan import PlanOptions
from ...io.scan import Scan
from ...io.criteria import Criteria
from ...io.table import PixTable
from ...progress import SILENT, Progress

GAP = 1 << 20  # rows of False written at a time across ruled-out ranges


def _false(n: int) -> Iterator[np.ndarray]:
    while n > 0:
        k = min(n, GAP)
        yield np.zeros(k, dtype=bool)
        n -= k


def mask_chunks(pt: PixTable, criteria: Criteria, progress: Progress = SILENT,
                plan: PlanOptions | None = None) -> Iterator[np.ndarray]:
    """Booleans for rows 0..nrows, in order, in chunks (memory: a few chunks). Flagged rows
    are not left out: the mask says where rows are, not whether they are good."""

    def work(batch):  # type: ignore[no-untyped-def]
        out = np.zeros(batch.stop - batch.start, dtype=bool)
        if batch.index is None:
            out[:] = True
        else:
            out[batch.index] = True
        return batch.start, out

    pos = 0
    for start, chunk in Scan(pt, criteria, plan, progress).stream([], work, keep_flagged=True, phase="mask"):
        yield from _false(start - pos)
        yield chunk
        pos = start + chunk.size
    yield from _false(pt.nrows - pos)


def mask_column(pt: PixTable, maskfile: str) -> np.ndarray:
    """MPDAF's ``PixTable.mask_column(maskfile).maskcol``: True where a row's RA/Dec falls on a
    non-zero pixel of the sky image, rows off the image taking the nearest edge pixel (MPDAF's
    conventions, for the facade; memory: one boolean per row, as MPDAF's)."""
    from ...format.skymask import SkyMask

    return np.concatenate([np.zeros(0, dtype=bool), *mask_chunks(pt, Criteria(sky_mask=SkyMask(maskfile, mpdaf=True)))])


def write_row_mask(pt: PixTable, criteria: Criteria, fd: int, maskfile: str, progress: Progress = SILENT,
                   plan: PlanOptions | None = None) -> int:
    """Write the PixTableMask of ``criteria`` on ``pt`` to ``fd``; the number of True rows."""
    return pixmask.write_mask(fd, pt.nrows, mask_chunks(pt, criteria, progress, plan), os.path.basename(pt.path), maskfile)
