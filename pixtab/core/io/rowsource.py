"""Columns of a chunk of rows, read lazily: only the row blocks a selection still needs.

:class:`RowSource` is what a selection test reads from; :class:`Scratch` holds
work buffers reused from chunk to chunk by one thread.
"""

from __future__ import annotations

import numpy as np

from .table import PixTable

#: rows per block of the lazy column reads (16 KiB of a float32 column)
BLOCK_SHIFT = 12
#: read the whole chunk once this fraction of its blocks is needed
DENSE_FRACTION = 0.5


class Scratch:
    """Work buffers reused from chunk to chunk by one thread (contents undefined).

    Fresh chunk-sized arrays cost a page fault (and the kernel's zeroing) per
    4 KiB page on every chunk; reusing them keeps the selection pass CPU-bound.
    """

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, slot: str, n: int, dtype: np.dtype | type) -> np.ndarray:
        dt = np.dtype(dtype)
        buf = self._bufs.get(slot)
        if buf is None or buf.dtype != dt or buf.size < n:
            buf = np.empty(n, dtype=dt)
            self._bufs[slot] = buf
        return buf[:n]


class RowSource:
    """Columns of rows ``start..stop-1`` read on demand, block by block.

    ``preloaded`` holds whole-chunk arrays already read. Other columns are read
    only in the 4096-row blocks that contain requested rows (into a chunk-sized
    buffer of ``scratch``), or whole once most blocks are needed.
    """

    def __init__(
        self,
        pt: PixTable,
        start: int,
        stop: int,
        preloaded: dict[str, np.ndarray] | None = None,
        scratch: Scratch | None = None,
    ) -> None:
        self.pt = pt
        self.start = start
        self.stop = stop
        self.full: dict[str, np.ndarray] = dict(preloaded or {})
        #: buffers to reuse; one RowSource at a time may use a given Scratch
        self.scratch = scratch or Scratch()
        self._partial: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.stop - self.start

    def get(self, name: str, idx: np.ndarray | None) -> np.ndarray:
        """Values of column ``name`` at chunk-local rows ``idx`` (all rows if None)."""
        if name in self.full:
            arr = self.full[name]
            return arr if idx is None else arr[idx]
        n = len(self)
        nblocks = (n + (1 << BLOCK_SHIFT) - 1) >> BLOCK_SHIFT
        if idx is None or idx.size >= n * DENSE_FRACTION:
            return self._load_full(name) if idx is None else self._load_full(name)[idx]
        blocks = idx >> BLOCK_SHIFT
        if blocks.size > 1:
            blocks = blocks[np.concatenate(([True], blocks[1:] != blocks[:-1]))]
        if blocks.size >= nblocks * DENSE_FRACTION:
            return self._load_full(name)[idx]
        buf, loaded = self._partial.get(name) or (None, None)
        if buf is None:
            dtype = self.pt.columns[name].dtype
            buf, loaded = self.scratch.get("column " + name, n, dtype), np.zeros(nblocks, dtype=bool)
            self._partial[name] = (buf, loaded)
        missing = blocks[~loaded[blocks]]
        for a, b in _runs(missing):
            lo, hi = a << BLOCK_SHIFT, min(b << BLOCK_SHIFT, n)
            buf[lo:hi] = self.pt.read([name], self.start + lo, self.start + hi)[name]
            loaded[a:b] = True
        return buf[idx]

    def _load_full(self, name: str) -> np.ndarray:
        self._partial.pop(name, None)
        arr = self.pt.read([name], self.start, self.stop)[name]
        self.full[name] = arr
        return arr


def _runs(blocks: np.ndarray) -> list[tuple[int, int]]:
    """Sorted unique block numbers as half-open runs of consecutive blocks."""
    if blocks.size == 0:
        return []
    cut = np.flatnonzero(np.diff(blocks) != 1) + 1
    starts = np.concatenate(([0], cut))
    ends = np.concatenate((cut, [blocks.size]))
    return [(int(blocks[s]), int(blocks[e - 1]) + 1) for s, e in zip(starts, ends)]
