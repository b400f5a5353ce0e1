"""The scan engine: every command reads rows through one loop (:mod:`.engine`).

:class:`Scan` plans once, then selects (:class:`Selection`), selects for many
sources, copies selected rows, or streams them to a measuring consumer
(:class:`RowBatch`); :mod:`.tuning` is its one tuning table.
"""

from .batch import RowBatch, exposure_numbers
from .engine import Scan
from .selection import ChunkSelection, Selection

__all__ = ["ChunkSelection", "RowBatch", "Scan", "Selection", "exposure_numbers"]
