"""The scan engine: the one chunk loop of pixtab.

:class:`Scan` binds a table, criteria and the planner's options. It plans once
(:attr:`Scan.plan`, :func:`pixtab.core.io.plan.plan_rows`), then every pass
over the table goes through :meth:`Scan.each`, the only chunk loop of the
project (a large folding pass runs its chunks on one forked process per worker
instead, :mod:`.forked`): chunks of the tuning table (:mod:`.tuning`) are handed to
:data:`~.tuning.WORKERS` threads (positional reads and numpy release the GIL,
so reading and computing overlap), results come back in row order through a
window of :data:`~.tuning.WINDOW` chunks (read-ahead with bounded memory), and
a pass that reads every row feeds the index builder on the way (``--build-index``).

The passes (the consumers choose one):

* :meth:`Scan.select` -> :class:`~.selection.Selection` (extract, export, decode-origin);
* :meth:`Scan.select_many` -> one selection per source, in one pass (``extract --catalog``);
* :meth:`Scan.copy` -> the selected rows' columns, reading only the blocks that hold
  selected rows (extract's and export's copy, decode-origin, :meth:`Selection.iter_columns`);
* :meth:`Scan.chunks` -> every row's columns in chunks (the API's ``iter_chunks``, text tables);
* :meth:`Scan.stream` -> one pass that selects and hands each chunk's rows to a consumer
  in the worker threads (fit, plot, sky); :meth:`Scan.fold` adds the consumer's results
  up, on forked processes when the pass is large (image, spectrum; :mod:`.measuring`);
* :meth:`Scan.each` -> any work on whole chunks, buffers reused by slot: the raw passes
  (building an index, :mod:`.indexer`; a layout change, :mod:`pixtab.core.ops.convert`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import cached_property
from typing import TypeVar

import numpy as np

from ...format.exposures import ExposureMap
from ...progress import SILENT, Progress
from ..indexing import IndexingPass
from ..plan import Plan, PlanOptions, chunked, plan_rows, with_gaps
from ..rowsource import RowSource, Scratch
from ..criteria import Criteria
from ..selection import Selector
from ..table import DEFAULT_CHUNK_ROWS, Chunk, PixTable
from .measuring import MeasuringPasses
from .selection import ChunkSelection, ManySelector, Selection
from .tuning import RING, WINDOW, WORKERS, tuning_of

T = TypeVar("T")
R = TypeVar("R")
Span = tuple[int, int]


class Scan(MeasuringPasses):
    """Passes over ``pt`` for ``criteria`` (None or empty: every row), planned once.

    ``options``: the planner's (:class:`PlanOptions`: full scan, index, build an index on
    the way); ``progress`` reports each pass as a phase."""

    def __init__(
        self,
        pt: PixTable,
        criteria: Criteria | None = None,
        options: PlanOptions | None = None,
        progress: Progress = SILENT,
        chunk_rows: int | None = None,
    ) -> None:
        self.pt = pt
        self.criteria = criteria
        self.options = options or PlanOptions()
        self.progress = progress
        self.tuning = tuning_of(pt.storage.packed)
        if chunk_rows:  # (tests: chunk boundaries anywhere)
            self.tuning = replace(self.tuning, chunk_rows=chunk_rows, copy_rows=chunk_rows)
        self.selector = Selector(pt, criteria) if criteria is not None and not criteria.empty else None

    @cached_property
    def plan(self) -> Plan:
        """The row ranges the criteria can select (every row without criteria)."""
        if self.selector is None:
            return Plan([(0, self.pt.nrows)] if self.pt.nrows else [], "full scan")
        return plan_rows(self.selector, self.options)

    # -- the one chunk loop --------------------------------------------------------

    def each(
        self, spans: Sequence[Span], work: Callable[[int, Span, Scratch], R], batch_rows: int = 0
    ) -> Iterator[tuple[Span, R]]:
        """``work(k, span, scratch)`` on the ``k``-th span, on the workers; results in order.

        Chunk ``k`` starts only once the caller is done with chunk ``k - RING``, so a pass
        may reuse buffers by slot ``k % RING`` (:data:`~.tuning.RING`; the raw passes: index
        build, layout change). With ``batch_rows``, consecutive spans go to a worker together
        until they hold that many rows (one hand-over per batch, not per span: a
        catalogue's thousands of index blocks of a few thousand rows); slots are then void."""
        if not spans:
            return
        local = threading.local()

        def one(k: int, span: Span) -> R:
            if not hasattr(local, "scratch"):
                local.scratch = Scratch()
            return work(k, span, local.scratch)

        def batch(todo: list[tuple[int, Span]]) -> list[R]:
            return [one(k, span) for k, span in todo]

        self.pt.fd  # open the file before the workers share it
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="pixtab-scan") as pool:
            window: deque[tuple[list[Span], Future[list[R]]]] = deque()
            for todo in _batches(spans, batch_rows):
                # batch j - WINDOW was yielded before this and we resumed: its caller is done with it
                window.append(([span for _, span in todo], pool.submit(batch, todo)))
                if len(window) >= WINDOW:
                    done, fut = window.popleft()
                    yield from zip(done, fut.result())
            while window:
                done, fut = window.popleft()
                yield from zip(done, fut.result())

    def _run(self, spans: Sequence[Span], work: Callable[[Span, Scratch], R]) -> Iterator[tuple[Span, R]]:
        """:meth:`each` for passes that keep no buffers between chunks (small spans batched)."""
        return self.each(spans, lambda k, span, scratch: work(span, scratch), self.tuning.chunk_rows // 4)

    def _indexing(self) -> IndexingPass | None:
        return IndexingPass.start(self.pt, self.options)

    def _ahead(self, columns: Sequence[str], indexing: IndexingPass | None) -> list[str]:
        """Columns read whole with each chunk: ``columns`` (+ the index builder's)."""
        out = list(dict.fromkeys(columns))
        return out + [c for c in (indexing.columns if indexing else ()) if c not in out]

    # -- selection -----------------------------------------------------------------

    def select(self, within: Selection | None = None, phase: str = "select") -> Selection:
        """Which rows meet the criteria (of ``within``'s rows, when given): one pass reading
        only the columns the tests need, in the ranges the planner allows."""
        pt, sel, progress = self.pt, self.selector, self.progress
        indexing = self._indexing()
        chunk_rows = self.tuning.chunk_rows
        if sel is None and indexing is None and within is None:
            return Selection.everything(pt, chunk_rows, self)
        selector = sel or Selector(pt, Criteria())
        if within is not None:
            layout = [(c.start, c.stop) for c in within.chunks]
            spans = [(c.start, c.stop) for c in within.chunks if c.count]
        else:
            spans = chunked(self.plan.ranges, chunk_rows)
            layout = with_gaps(spans, pt.nrows)
        live = [s for s in spans if indexing or selector.chunk_possible(*s)]
        # Interleaved rows cost the same to read for one column or all: take them all at once.
        ahead = self._ahead(selector.first_columns if pt.storage.packed else selector.columns, indexing)
        whole = self.plan.whole and within is None
        inside = {c.start: c for c in within.chunks} if within is not None else {}

        def work(span: Span, scratch: Scratch) -> tuple[np.ndarray, ChunkSelection]:
            start, stop = span
            if whole:  # every row of the span is selected: nothing to read
                return np.arange(stop - start), ChunkSelection(start, stop, stop - start, "all")
            arrays = pt.read(ahead, start, stop) if ahead else {}
            if indexing:
                indexing.add(start, arrays)
            idx = selector.select(RowSource(pt, start, stop, arrays, scratch))
            if start in inside:
                idx = np.intersect1d(idx, inside[start].indices(), assume_unique=True)
            return idx, ChunkSelection.of(start, stop, idx)

        found: dict[int, ChunkSelection] = {}
        per_exp: dict[int, int] = {e: 0 for e in selector.exposures.numbers}
        progress.start(phase, pt.nrows)
        for (start, stop), (idx, cs) in self._run(live, work):
            found[start] = cs
            selector.exposures.count(start, idx, per_exp)
            progress.advance(stop - start)
        progress.advance(pt.nrows - sum(b - a for a, b in live))
        if indexing:
            indexing.finish()
        chunks = [found.get(a) or ChunkSelection(a, b, 0, "none") for a, b in layout]
        return Selection(pt.nrows, chunks, per_exp, selector.exposures, self)

    def select_many(self, many: ManySelector, plan: Plan, phase: str = "select") -> list[Selection]:
        """One pass: a selection for each of ``many``'s selectors, reading the ranges of ``plan``."""
        pt, progress = self.pt, self.progress
        indexing = self._indexing()
        spans = chunked(plan.ranges, self.tuning.chunk_rows)
        live = [s for s in spans if indexing or many.base.chunk_possible(*s)]
        first = many.base.first_columns or ("ypos",)
        ahead = self._ahead(first if pt.storage.packed else many.columns, indexing)

        def work(span: Span, scratch: Scratch) -> tuple[Span, list[np.ndarray]]:
            arrays = pt.read(ahead, *span, buffers=scratch.get)  # the picks hold none of them
            if indexing:
                indexing.add(span[0], arrays)
            return span, many.select(RowSource(pt, span[0], span[1], arrays, scratch))

        exposures = many.base.exposures
        progress.start(phase, pt.nrows)
        progress.advance(pt.nrows - sum(b - a for a, b in live))
        picked = self._fold(live, work, lambda: _Picks(len(many), exposures), indexing)
        layout = with_gaps(spans, pt.nrows)
        # one empty chunk per span, shared by every selection (a hundred sources of a big
        # table would otherwise make millions of them; chunks are never changed)
        empty = [ChunkSelection(a, b, 0, "none") for a, b in layout]
        number = {a: i for i, (a, _) in enumerate(layout)}
        return [Selection.sparse(pt.nrows, empty, {number[a]: cs for a, cs in found.items()}, e, exposures, self)
                for found, e in zip(picked.found, picked.per_exp)]

    def narrow(self, selection: Selection, criteria: Criteria) -> Selection:
        """The rows of ``selection`` that also meet ``criteria`` (a pass over its chunks with rows)."""
        return Scan(self.pt, criteria, self.options, self.progress).select(within=selection)

    # -- copy ----------------------------------------------------------------------

    def copy_spans(self, selection: Selection | None, start: int = 0, stop: int | None = None) -> list[tuple[int, int, int]]:
        """(start, stop, chunk number) of the reads of a copy of rows ``start..stop-1``: the
        blocks that hold selected rows, cut at the tuning table's ``copy_rows``."""
        stop = self.pt.nrows if stop is None else min(stop, self.pt.nrows)
        most = self.tuning.copy_rows
        if selection is None:
            return [(a, min(a + most, stop), -1) for a in range(start, stop, most)]
        return selection.copy_spans(start, stop, most)

    def rows_to_read(self, selection: Selection | None, start: int = 0, stop: int | None = None) -> int:
        """Rows :meth:`copy` reads (for a progress total)."""
        return sum(b - a for a, b, _ in self.copy_spans(selection, start, stop))

    def copy(
        self, selection: Selection | None, names: Sequence[str], start: int = 0, stop: int | None = None, whole: bool = False,
        reuse: bool = False, native: bool = True,
    ) -> Iterator[tuple[np.ndarray | range, dict[str, np.ndarray]]]:
        """Yield ``(rows, arrays)``: table rows (a range when every row of the read is
        selected, else sorted int64) and the named columns at those rows, for the selected
        rows of ``start..stop-1`` (every row without a selection), in order. Reads only the
        blocks holding selected rows; advances ``progress`` by the rows read. With ``whole``,
        each read as it is (a range of rows: the caller picks rows out of it itself). ``reuse``:
        read into reused buffers (fresh memory costs a page fault per 4 KiB: on a VM, up to
        10 us); with ``whole``, a ring of them, whose arrays are valid until the caller asks
        for the next read; else the rows picked out are copies, and the reads of every row
        are fresh.
        ``native=False``: the values in the file's byte order (see :meth:`PixTable.read`)."""
        pt = self.pt
        names = list(names)
        missing = [n for n in names if n not in pt.columns]
        if missing:
            pt.read(missing, 0, 0)  # the table's own error: no such column
        spans = self.copy_spans(selection, start, stop)
        chunk_of = {(a, b): i for a, b, i in spans}
        ring = [Scratch() for _ in range(RING)] if whole and reuse else None

        def work(k: int, span: Span, scratch: Scratch) -> tuple[np.ndarray | range, dict[str, np.ndarray]]:
            a, b = span
            i = chunk_of[span]
            cs = selection.chunks[i] if selection is not None and i >= 0 else None
            gather = not whole and cs is not None and cs.kind != "all"
            # a gathering read's buffers are the worker's own: what leaves is copied out of them
            into = ring[k % RING].get if ring else (scratch.get if reuse and gather else None)
            arrays = pt.read(names, a, b, native, buffers=into)
            if not gather:
                return range(a, b), arrays
            at = cs.within(a, b)  # type: ignore[union-attr]
            return at + a, {n: v[at] for n, v in arrays.items()}

        # a ring's slots hold only when each read is a task of its own (no batches)
        batch_rows = 0 if ring else self.tuning.chunk_rows // 4
        for (a, b), (rows, arrays) in self.each([(a, b) for a, b, _ in spans], work, batch_rows):
            self.progress.advance(b - a)
            if len(rows):
                yield rows, arrays

    def chunks(self, names: Sequence[str] | None = None, start: int = 0, stop: int | None = None,
               chunk_rows: int = DEFAULT_CHUNK_ROWS, native: bool = True) -> Iterator[Chunk]:
        """Every row of ``start..stop-1`` in :class:`Chunk` objects of ``chunk_rows`` rows, in
        order, read ahead on the workers (``native=False``: big-endian as stored)."""
        pt = self.pt
        stop = pt.nrows if stop is None else min(stop, pt.nrows)
        cols = list(pt.read(names, start, start))  # checked and normalised names (no row read)
        spans = [(a, min(a + chunk_rows, stop)) for a in range(start, stop, chunk_rows)]
        for (a, b), arrays in self._run(spans, lambda span, scratch: pt.read(cols, *span, native)):
            yield Chunk(a, b, arrays)

#: most spans in one batch of :meth:`Scan.each` (the window's read-ahead stays bounded)
BATCH_SPANS = 64


def _batches(spans: Sequence[Span], batch_rows: int) -> Iterator[list[tuple[int, Span]]]:
    """Consecutive (k, span) groups holding at least ``batch_rows`` rows (0: one span each)."""
    todo: list[tuple[int, Span]] = []
    rows = 0
    for k, span in enumerate(spans):
        todo.append((k, span))
        rows += span[1] - span[0]
        if rows >= batch_rows or len(todo) >= BATCH_SPANS:
            yield todo
            todo, rows = [], 0
    if todo:
        yield todo


class _Picks:
    """What a catalogue's selection pass found: per source, its chunks with rows and its rows
    per exposure (an :class:`~.forked.Accumulator` of ``(span, picks)``)."""

    def __init__(self, sources: int, exposures: ExposureMap) -> None:
        self.exposures = exposures
        self.found: list[dict[int, ChunkSelection]] = [{} for _ in range(sources)]
        self.per_exp = [{e: 0 for e in exposures.numbers} for _ in range(sources)]

    def add(self, part: tuple[Span, list[np.ndarray]]) -> None:
        (start, stop), picks = part
        for k, idx in enumerate(picks):
            if idx.size:
                self.found[k][start] = ChunkSelection.of(start, stop, idx)
                self.exposures.count(start, idx, self.per_exp[k])

    def merge(self, other: "_Picks") -> None:
        for mine, theirs in zip(self.found, other.found):
            mine.update(theirs)
        for mine_n, theirs_n in zip(self.per_exp, other.per_exp):
            for e, n in theirs_n.items():
                mine_n[e] = mine_n.get(e, 0) + n
