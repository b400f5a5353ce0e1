"""The selected rows of one table: :class:`Selection`, made of :class:`ChunkSelection` s.

A selection is what :meth:`pixtab.core.io.scan.Scan.select` returns and what the
Python API hands to users. It is small and lazy: each chunk of the table keeps
its selected rows in the most compact of four forms (all / none / uint32
indices / packed bits), so a selection costs at most
``min(4 bytes per selected row, 1 bit per table row)`` per chunk, plus a few
dozen bytes per chunk, whatever the table size. ``count()`` is free; ``rows``
materialises every row number (8 bytes per selected row); column values are
read chunk by chunk (:meth:`Selection.iter_columns`) or narrowed by further
criteria (:meth:`Selection.narrow`) without materialising anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from ...format.exposures import ExposureMap
from ..rowsource import RowSource
from ..criteria import Criteria
from ..selection import Selector
from ..table import PixTable
from .tuning import COPY_BLOCK_SHIFT, COPY_GAP_BLOCKS

Columns = Iterator[tuple[np.ndarray | range, dict[str, np.ndarray]]]


class Passes(Protocol):
    """The passes a selection reads through (:class:`~.engine.Scan` is one)."""

    pt: PixTable

    def copy(self, selection: Any, names: Sequence[str], start: int = 0, stop: int | None = None) -> Columns: ...

    def narrow(self, selection: Any, criteria: Criteria) -> Any: ...


class ManySelector(Protocol):
    """Many selections in one pass (a catalogue): ``base`` holds the criteria they share."""

    base: Selector
    columns: list[str]

    def __len__(self) -> int: ...

    def select(self, src: RowSource) -> list[np.ndarray]: ...


@dataclass
class ChunkSelection:
    """Selected rows of input rows ``start..stop-1``, stored compactly."""

    start: int
    stop: int
    count: int
    kind: str  # 'all', 'none', 'idx' (uint32 local indices) or 'bits' (packed mask)
    data: np.ndarray | None = None

    @classmethod
    def of(cls, start: int, stop: int, idx: np.ndarray) -> "ChunkSelection":
        """From the chunk-local indices ``idx`` (sorted, unique) of the selected rows."""
        n, k = stop - start, int(idx.size)
        if k == 0:
            return cls(start, stop, 0, "none")
        if k == n:
            return cls(start, stop, k, "all")
        if 32 * k < n:  # 4 bytes per selected row beat 1 bit per row
            return cls(start, stop, k, "idx", idx.astype(np.uint32))
        mask = np.zeros(n, dtype=bool)
        mask[idx] = True
        return cls(start, stop, k, "bits", np.packbits(mask))

    @classmethod
    def of_bits(cls, start: int, stop: int, bits: np.ndarray) -> "ChunkSelection":
        """From the packed mask ``bits`` (``np.packbits`` of one bool per row, zero padding)."""
        n, k = stop - start, int(POPCOUNT[bits].sum(dtype=np.int64))
        if k == 0 or k == n:
            return cls(start, stop, k, "all" if k else "none")
        if 32 * k < n:
            return cls(start, stop, k, "idx", np.flatnonzero(np.unpackbits(bits, count=n)).astype(np.uint32))
        return cls(start, stop, k, "bits", bits)

    def bits(self) -> np.ndarray:
        """The packed mask of the selected rows (a new array)."""
        n = self.stop - self.start
        if self.kind == "bits":
            return self.data.copy()  # type: ignore[union-attr]
        mask = np.zeros(n, dtype=bool)
        if self.kind == "all":
            mask[:] = True
        elif self.kind == "idx":
            mask[self.data] = True
        return np.packbits(mask)

    def indices(self) -> np.ndarray:
        """Chunk-local indices of the selected rows (int64, sorted)."""
        n = self.stop - self.start
        if self.kind == "none":
            return np.empty(0, dtype=np.int64)
        if self.kind == "all":
            return np.arange(n, dtype=np.int64)
        if self.kind == "idx":
            return self.data.astype(np.int64)  # type: ignore[union-attr]
        return np.flatnonzero(np.unpackbits(self.data, count=n))  # type: ignore[arg-type]

    def within(self, a: int, b: int) -> np.ndarray:
        """Positions, counted from ``a``, of the selected rows among table rows ``a..b-1``
        (inside this chunk), taken from the compact form: nothing of the rest is unpacked."""
        lo, hi = a - self.start, b - self.start
        if self.kind == "none" or hi <= lo:
            return np.empty(0, dtype=np.intp)
        if self.kind == "all":
            return np.arange(hi - lo)
        data: np.ndarray = self.data  # type: ignore[assignment]
        if self.kind == "idx":
            i, j = np.searchsorted(data, [lo, hi])
            return data[i:j].astype(np.intp) - lo
        skip = lo % 8
        bits = np.unpackbits(data[lo // 8 : -(-hi // 8)], count=skip + hi - lo)[skip:]
        return np.flatnonzero(bits)

    def blocks(self) -> list[tuple[int, int]]:
        """Table rows of the copy blocks (``1 << COPY_BLOCK_SHIFT`` rows) that hold selected
        rows, as runs; gaps shorter than ``COPY_GAP_BLOCKS`` blocks are read with them."""
        if self.kind == "none":
            return []
        if self.kind == "all":
            return [(self.start, self.stop)]
        block = 1 << COPY_BLOCK_SHIFT
        if self.kind == "bits":  # a block is 128 bytes of the packed mask: no unpacking
            per = block // 8
            data: np.ndarray = self.data  # type: ignore[assignment]
            padded = np.zeros(-(-data.size // per) * per, dtype=np.uint8)
            padded[: data.size] = data
            nums = np.flatnonzero(padded.reshape(-1, per).any(axis=1))
        else:
            nums = unique_ints(self.indices() >> COPY_BLOCK_SHIFT)
        cut = np.flatnonzero(np.diff(nums) > COPY_GAP_BLOCKS) + 1
        firsts, lasts = nums[np.concatenate(([0], cut))], nums[np.concatenate((cut - 1, [nums.size - 1]))]
        return [(self.start + int(f) * block, min(self.stop, self.start + (int(la) + 1) * block)) for f, la in zip(firsts, lasts)]


#: set bits of each byte value (``np.bitwise_count`` needs numpy 2)
POPCOUNT = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1).astype(np.uint8)


def unique_ints(a: np.ndarray) -> np.ndarray:
    """``np.unique`` of integers, without the import of numpy.ma that it makes (30 ms of
    start-up, more than a cut with an index takes)."""
    if a.size > 1 and bool((a[1:] < a[:-1]).any()):
        a = np.sort(a)
    if a.size < 2:
        return a.copy()
    keep = np.empty(a.size, dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


@dataclass
class Selection:
    """The rows of one table that meet some criteria (see the module docstring for memory).

    ``chunks`` cover the table in order; ``per_exposure`` counts the selected rows
    of each exposure number (0: a single-exposure table). ``passes`` reads the
    table selected from (needed by :meth:`iter_columns` and :meth:`narrow`).
    """

    nrows: int
    chunks: list[ChunkSelection]
    per_exposure: dict[int, int]
    exposures: ExposureMap
    passes: Passes | None = field(default=None, repr=False, compare=False)
    #: copy_spans' answers (asked twice per copy: for the progress total, then to read)
    _spans: dict[tuple[int, int, int], list[tuple[int, int, int]]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def table(self) -> PixTable | None:
        """The table selected from."""
        return self.passes.pt if self.passes is not None else None

    @classmethod
    def everything(cls, pt: PixTable, chunk_rows: int, passes: Passes | None = None) -> "Selection":
        """Every row of ``pt`` (nothing read)."""
        exposures = ExposureMap(pt.keywords.exposures, pt.nrows)
        chunks = [ChunkSelection(a, min(a + chunk_rows, pt.nrows), min(chunk_rows, pt.nrows - a), "all")
                  for a in range(0, pt.nrows, chunk_rows)]  # fmt: skip
        per_exp = {e: 0 for e in exposures.numbers}
        for a, b, e in exposures.runs(0, pt.nrows):
            per_exp[e] = per_exp.get(e, 0) + b - a
        return cls(pt.nrows, chunks, per_exp, exposures, passes)

    @classmethod
    def sparse(cls, nrows: int, empty: list[ChunkSelection], filled: dict[int, ChunkSelection],
               per_exposure: dict[int, int], exposures: ExposureMap, passes: Passes | None = None) -> "Selection":
        """``empty`` (a chunk without rows for every chunk of the table) with the chunks of
        ``filled`` (by chunk number) in place: a catalogue source fills a few dozen of
        thousands, and nothing here visits the others."""
        chunks = empty.copy()
        for i, cs in filled.items():
            chunks[i] = cs
        selection = cls(nrows, chunks, per_exposure, exposures, passes)
        selection.__dict__["filled"] = sorted(filled)  # the cached property, known already
        return selection

    def count(self) -> int:
        """Number of selected rows (nothing read, nothing materialised)."""
        return self._count

    @cached_property
    def _count(self) -> int:  # asked often (a catalogue: per source, per output step)
        chunks = self.chunks
        return sum([chunks[i].count for i in self.filled])

    @cached_property
    def filled(self) -> list[int]:
        """Numbers of the chunks with selected rows, in order (a catalogue source has a few
        dozen of thousands: what loops over chunks visits)."""
        return [i for i, c in enumerate(self.chunks) if c.count]

    def __len__(self) -> int:
        return self.count()

    @property
    def rows(self) -> np.ndarray:
        """Table row numbers of the selected rows: sorted int64 (8 bytes per selected row)."""
        parts = [self.chunks[i].indices() + self.chunks[i].start for i in self.filled]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def iter_rows(self) -> Iterator[np.ndarray]:
        """The selected row numbers chunk by chunk (bounded memory)."""
        for i in self.filled:
            c = self.chunks[i]
            yield c.indices() + c.start

    @cached_property
    def shifted(self) -> list[tuple[int, int, int]]:
        """(exp, FIRST, LAST) of an output of these rows (DRS rule; empty for a single exposure)."""
        return self.exposures.shifted(self.per_exposure)

    def copy_spans(self, start: int, stop: int, most: int) -> list[tuple[int, int, int]]:
        """(start, stop, chunk number) of the reads of a copy of the selected rows of
        ``start..stop-1``: the blocks that hold selected rows, at most ``most`` rows each."""
        known = self._spans.get((start, stop, most))
        if known is not None:
            return known
        out: list[tuple[int, int, int]] = []
        for i in self.filled:
            cs = self.chunks[i]
            if cs.stop <= start or cs.start >= stop:
                continue
            for a, b in cs.blocks():
                a, b = max(a, start), min(b, stop)
                out += [(s, min(s + most, b), i) for s in range(a, b, most)]
        self._spans[(start, stop, most)] = out
        return out

    def count_between(self, start: int, stop: int) -> int:
        """Selected rows of ``start..stop-1``."""
        total = 0
        for i in self.filled:
            cs = self.chunks[i]
            if cs.stop <= start or cs.start >= stop:
                continue
            if start <= cs.start and cs.stop <= stop:
                total += cs.count
            else:
                idx = cs.indices() + cs.start
                total += int(np.count_nonzero((idx >= start) & (idx < stop)))
        return total

    def iter_columns(self, names: Sequence[str], start: int = 0, stop: int | None = None) -> Columns:
        """``(rows, arrays)`` chunk by chunk: the table rows and the named columns at the
        selected rows of ``start..stop-1``; only the blocks holding selected rows are read."""
        yield from self._passes().copy(self, names, start, stop)

    def narrow(self, criteria: Criteria) -> "Selection":
        """The rows of this selection that also meet ``criteria`` (reads only chunks with rows)."""
        return self._passes().narrow(self, criteria)  # type: ignore[no-any-return]

    def union(self, others: "Sequence[Selection]") -> "Selection":
        """The rows in this selection or any of ``others`` (same table, same chunks)."""
        by_chunk: dict[int, list[ChunkSelection]] = {}
        for s in (self, *others):
            for i in s.filled:
                by_chunk.setdefault(i, []).append(s.chunks[i])
        chunks = []
        for i, cs in enumerate(self.chunks):
            parts = by_chunk.get(i, ())
            if len(parts) <= 1:  # chunks are never changed: share it
                chunks.append(parts[0] if parts else ChunkSelection(cs.start, cs.stop, 0, "none"))
                continue
            bits = parts[0].bits()
            for p in parts[1:]:
                if p.kind == "bits":
                    bits |= p.data  # type: ignore[operator]
                else:
                    bits |= p.bits()
            chunks.append(ChunkSelection.of_bits(cs.start, cs.stop, bits))
        return Selection(self.nrows, chunks, {}, self.exposures, self.passes)

    def _passes(self) -> Passes:
        if self.passes is None:
            raise ValueError("this selection is not tied to a table")
        return self.passes
