"""The one place the measuring operations meet the reading and selection layers.

Operations stream the rows a :class:`Criteria` selects, in chunks, with only
the columns they need (:func:`stream_selected`); flagged rows (dq != 0) are left
out and counted unless asked for. Unlike :mod:`.selected` (a selection pass,
then reads of the blocks that hold selected rows, for the copying commands),
this is ONE pass: each chunk is selected through the shared
:class:`Selector` (lazy column reads) and reduced at once by the caller's
``work`` on two threads, which is what a one-pass image needs. Everything the operations use from the lower
layers is imported here, so that a move of those modules touches one file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import CriteriaError, EmptySelectionError, InputError, OutputError, PixtabError
from ..fits.atomic import atomic_output
from ..format.exposures import ExposureMap
from ..format.origin import get_ifu, get_slice
from ..format.sky import SkyFrame, wrap_delta_ra
from ..io.plan import chunked, plan_rows
from ..io.rowsource import RowSource, Scratch
from ..io.selection import Aperture, Criteria, Selector
from ..io.table import PixTable
from ..progress import SILENT, Progress

__all__ = [
    "Aperture",
    "CriteriaError",
    "Criteria",
    "EmptySelectionError",
    "InputError",
    "OutputError",
    "PixTable",
    "PixtabError",
    "RowBatch",
    "Scratch",
    "SkyFrame",
    "stream_selected",
    "open_table",
    "wrap_delta_ra",
    "atomic_output",
    "exposure_numbers",
    "Progress",
    "SILENT",
    "get_ifu",
    "get_slice",
]



def exposure_numbers(pt: PixTable, batch: "RowBatch") -> np.ndarray:
    """Exposure number (0: single exposure) of each row of ``batch``."""
    exp = ExposureMap(pt.keywords.exposures, pt.nrows).of_rows(batch.start, batch.stop)
    return exp if batch.index is None else exp[batch.index]

#: rows per chunk of the selection pass (as extract's: small enough for the caches)
CHUNK_ROWS = {"image": 1 << 19}
CHUNK_ROWS_OTHER = 1 << 18
WORKERS = 2


def open_table(path: str) -> PixTable:
    """Open a pixel table for streaming reads (a context manager)."""
    return PixTable(path)


@dataclass
class RowBatch:
    """The selected rows of one chunk: column arrays, plus the flagged rows left out."""

    start: int
    stop: int
    arrays: dict[str, np.ndarray]
    flagged: int  # selected rows dropped because dq != 0
    flagged_lambda: np.ndarray | None = None  # their wavelengths, when asked for
    index: np.ndarray | None = None  # chunk-local row numbers of the rows (None: every row)
    drop: np.ndarray | None = None  # with ``dense``: True for the flagged rows still in ``arrays``

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0


def stream_selected(
    pt: PixTable,
    criteria: Criteria,
    columns: Sequence[str],
    keep_flagged: bool = False,
    flagged_lambda: bool = False,
    progress: Progress = SILENT,
    work: Callable[[RowBatch], object] | None = None,
    dense: bool = False,
    phase: str = "read",
) -> Iterator[object]:
    """Stream the selected rows of ``pt``, chunk by chunk, in row order.

    Reports progress as one phase (``phase``, every row of the table). Yields
    :class:`RowBatch` objects, or ``work(batch)`` computed in the worker
    threads when ``work`` is given (so per-chunk reductions run on both cores).
    Only the blocks of a column that hold selected rows are read. Rows with
    dq != 0 are dropped unless ``keep_flagged`` (their number is kept, and
    their wavelengths with ``flagged_lambda``). With ``dense``, a chunk whose
    rows are all selected keeps its flagged rows in the arrays, marked in
    ``batch.drop`` (no copy of the other rows). Memory: a few chunks.
    """
    selector = Selector(pt, criteria) if not criteria.empty else None
    names = [c for c in columns if c in pt.columns]
    missing = [c for c in columns if c not in pt.columns]
    if missing:
        raise InputError(pt.path, f"no column {', '.join(map(repr, missing))} (have: {', '.join(pt.columns)})")
    chunk_rows = CHUNK_ROWS.get(pt.layout, CHUNK_ROWS_OTHER)
    if selector is not None:
        bounds = chunked(plan_rows(selector).ranges, chunk_rows)  # planner hook: the ranges to read
        bounds = [b for b in bounds if selector.chunk_possible(*b)]
        ahead = list(selector.columns if pt.layout != "image" else selector.first_columns)
    else:
        bounds = [(a, min(a + chunk_rows, pt.nrows)) for a in range(0, pt.nrows, chunk_rows)]
        ahead = names + ([] if keep_flagged or "dq" in names else ["dq"])
    if pt.layout != "image":  # interleaved rows: one read of every needed column
        ahead = list(dict.fromkeys(ahead + names + ([] if keep_flagged else ["dq"])))
    local = threading.local()

    def one(span: tuple[int, int]) -> object:
        start, stop = span
        if not hasattr(local, "scratch"):
            local.scratch = Scratch()
        src = RowSource(pt, start, stop, pt.read(ahead, start, stop) if ahead else {}, local.scratch)
        idx = selector.select(src) if selector is not None else None
        nflag, flam, drop = 0, None, None
        if not keep_flagged and (idx is None or idx.size):
            bad = src.get("dq", idx) != 0
            nflag = int(np.count_nonzero(bad))
            if nflag:
                rows = np.flatnonzero(bad) if idx is None else idx[bad]
                if flagged_lambda:
                    flam = src.get("lambda", rows)
                if dense and idx is None:
                    drop = bad
                else:
                    idx = np.flatnonzero(~bad) if idx is None else idx[~bad]
        if idx is not None and idx.size == 0:
            arrays = {n: np.empty(0, dtype=pt.columns[n].dtype) for n in names}
        else:
            arrays = {n: src.get(n, idx) for n in names}
        batch = RowBatch(start, stop, arrays, nflag, flam, idx, drop)
        return work(batch) if work is not None else batch

    progress.start(phase, pt.nrows)
    progress.advance(pt.nrows - sum(b - a for a, b in bounds))  # chunks the criteria rule out
    if not bounds:
        return
    pt.fd  # open the file before the workers share it
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="pixtab-rows") as pool:
        window: list = []
        for span in bounds:
            window.append((span, pool.submit(one, span)))
            if len(window) >= 2 * WORKERS:
                (a, b), fut = window.pop(0)
                yield fut.result()
                progress.advance(b - a)
        for (a, b), fut in window:
            yield fut.result()
            progress.advance(b - a)
