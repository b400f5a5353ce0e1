"""Stream the selected rows of a table: their table row numbers and the columns asked for.

The selection pass (:func:`pixtab.core.ops.extract.select_rows`) reads only what
the criteria need; this then reads the named columns only in the row blocks
that hold selected rows (:attr:`Selection.copy_ranges`), and gathers those
rows, in order, as extract's copy pass does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..io.table import DEFAULT_CHUNK_ROWS, PixTable
from ..progress import SILENT, Progress
from .extract import Selection

Rows = np.ndarray | range


def iter_selected(
    pt: PixTable,
    names: Sequence[str],
    selection: Selection | None = None,
    start: int = 0,
    stop: int | None = None,
    progress: Progress = SILENT,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[tuple[Rows, dict[str, np.ndarray]]]:
    """Yield ``(rows, arrays)``: table row indices (int64, or a range when contiguous) and the
    named columns at those rows, for rows ``start..stop-1`` (only the selected ones, given a
    selection). ``progress`` advances by the rows read (its phase is the caller's).
    """
    stop = pt.nrows if stop is None else min(stop, pt.nrows)
    if selection is None:
        for chunk in pt.iter_chunks(list(names), start, stop, chunk_rows):
            progress.advance(len(chunk))
            yield range(chunk.start, chunk.stop), chunk.arrays
        return
    ranges = [(max(a, start), min(b, stop), i) for a, b, i in selection.copy_ranges if a < stop and b > start]
    local: tuple[int, np.ndarray] | None = None
    for chunk, (_, _, i) in zip(pt.iter_ranges(list(names), [(a, b) for a, b, _ in ranges]), ranges):
        cs = selection.chunks[i]
        if local is None or local[0] != i:
            local = (i, cs.indices() + cs.start)
        rows = local[1]
        lo, hi = np.searchsorted(rows, [chunk.start, chunk.stop])
        rows = rows[lo:hi]
        progress.advance(len(chunk))
        if len(rows):
            at = rows - chunk.start
            yield rows, {n: chunk[n][at] for n in names}


def rows_to_read(selection: Selection | None, start: int, stop: int) -> int:
    """Rows :func:`iter_selected` reads (for a progress total)."""
    if selection is None:
        return max(0, stop - start)
    return sum(min(b, stop) - max(a, start) for a, b, _ in selection.copy_ranges if a < stop and b > start)


def count_selected(selection: Selection | None, start: int, stop: int) -> int:
    """Rows of ``start..stop-1`` in the selection (all of them without one)."""
    if selection is None:
        return max(0, stop - start)
    total = 0
    for cs in selection.chunks:
        if cs.stop <= start or cs.start >= stop or cs.count == 0:
            continue
        if start <= cs.start and cs.stop <= stop:
            total += cs.count
        else:
            idx = cs.indices() + cs.start
            total += int(np.count_nonzero((idx >= start) & (idx < stop)))
    return total
