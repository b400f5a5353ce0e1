"""What a measuring pass hands its consumer: the selected rows of one chunk (:class:`RowBatch`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...format.exposures import ExposureMap
from ..rowsource import RowSource, Scratch
from ..table import PixTable


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
    #: the worker thread's work buffers, for the consumer to reuse (contents undefined)
    scratch: Scratch = field(default_factory=Scratch, repr=False)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0


def reduce_chunk(
    src: RowSource, idx: np.ndarray | None, names: list[str], keep_flagged: bool, flagged_lambda: bool, dense: bool
) -> RowBatch:
    """The batch of ``src``'s rows ``idx`` (None: every row). Rows with dq != 0 are dropped
    unless ``keep_flagged`` (their number is kept, and their wavelengths with
    ``flagged_lambda``). With ``dense``, a chunk whose rows are all selected keeps its
    flagged rows in the arrays, marked in ``batch.drop`` (no copy of the other rows)."""
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
        arrays = {n: np.empty(0, dtype=src.pt.columns[n].dtype) for n in names}
    else:
        arrays = {n: src.get(n, idx) for n in names}
    return RowBatch(src.start, src.stop, arrays, nflag, flam, idx, drop, src.scratch)


def exposure_numbers(pt: PixTable, batch: RowBatch) -> np.ndarray:
    """Exposure number (0: single exposure) of each row of ``batch``."""
    exp = ExposureMap(pt.keywords.exposures, pt.nrows).of_rows(batch.start, batch.stop)
    return exp if batch.index is None else exp[batch.index]
