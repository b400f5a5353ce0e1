"""The measuring passes of the scan engine: select and consume in one pass (:meth:`stream`),
or add every chunk's result up (:meth:`fold`, on forked processes for large passes).

:class:`MeasuringPasses` is a part of :class:`~.engine.Scan` (kept apart for its size).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ...errors import InputError
from ...progress import Progress
from ..indexing import IndexingPass
from ..plan import chunked
from ..rowsource import RowSource, Scratch
from .batch import RowBatch, reduce_chunk
from .forked import A, fold_forked
from .tuning import WORKERS

Span = tuple[int, int]


class MeasuringPasses:
    """The measuring passes of :class:`~.engine.Scan` (they use its ``pt``, ``plan``,
    ``selector``, ``progress``, ``tuning`` and chunk loop)."""

    def stream(
        self,
        columns: Sequence[str],
        consumer: Callable[[RowBatch], Any] | None = None,
        keep_flagged: bool = False,
        flagged_lambda: bool = False,
        dense: bool = False,
        phase: str = "read",
    ) -> Iterator[Any]:
        """Select and consume in one pass: yield ``consumer(batch)`` (computed on the workers)
        or the :class:`RowBatch` of each chunk, in row order. Rows with dq != 0 are left out
        and counted unless ``keep_flagged`` (see :func:`.batch.reduce_chunk`). Memory: a few chunks."""
        spans, work, indexing = self._measuring(columns, consumer, keep_flagged, flagged_lambda, dense, phase)
        for (a, b), out in self._run(spans, work):
            yield out
            self.progress.advance(b - a)
        if indexing:
            indexing.finish()

    def fold(
        self,
        columns: Sequence[str],
        consumer: Callable[[RowBatch], Any],
        new: Callable[[], A],
        keep_flagged: bool = False,
        flagged_lambda: bool = False,
        dense: bool = False,
        phase: str = "read",
    ) -> A:
        """:meth:`stream` added up: ``new()`` (an :class:`~.forked.Accumulator`) with every
        chunk's ``consumer(batch)`` added; those results must hold none of the batch's arrays
        (the columns are read into reused buffers). A pass of at least :data:`FORK_MIN_SPANS` chunks
        runs on forked processes (:mod:`.forked`: threads share one GIL), unless it builds an
        index on the way or runs outside the main thread (a Dask task, say)."""
        spans, work, indexing = self._measuring(columns, consumer, keep_flagged, flagged_lambda, dense, phase, reuse=True)
        return self._fold(spans, work, new, indexing)

    def _fold(self, spans: list[Span], work: Callable[[Span, Scratch], Any], new: Callable[[], A],
              indexing: IndexingPass | None) -> A:
        """``new()`` with ``work(span)`` of every span added, on processes when it pays."""
        if indexing is None and len(spans) >= FORK_MIN_SPANS and may_fork():
            def counted(span: Span, scratch: Scratch, progress: Progress) -> Any:
                out = work(span, scratch)
                progress.advance(span[1] - span[0])
                return out

            return fold_forked([spans[i::WORKERS] for i in range(WORKERS)], counted, new, self.progress)
        total = new()
        for (a, b), out in self._run(spans, work):
            total.add(out)
            self.progress.advance(b - a)
        if indexing:
            indexing.finish()
        return total

    def _measuring(
        self, columns: Sequence[str], consumer: Callable[[RowBatch], Any] | None, keep_flagged: bool, flagged_lambda: bool,
        dense: bool, phase: str, reuse: bool = False,
    ) -> tuple[list[Span], Callable[[Span, Scratch], Any], IndexingPass | None]:
        """The chunks of a measuring pass and the work on one (select, then consume); starts the
        phase. With ``reuse`` the columns are read into the worker's buffers (the consumer's
        results must then hold none of the batch's arrays)."""
        pt, selector = self.pt, self.selector
        names = [c for c in columns if c in pt.columns]
        missing = [c for c in columns if c not in pt.columns]
        if missing:
            raise InputError(pt.path, f"no column {', '.join(map(repr, missing))} (have: {', '.join(pt.columns)})")
        indexing = self._indexing()
        spans = chunked(self.plan.ranges, self.tuning.chunk_rows)
        if selector is not None:
            spans = [s for s in spans if indexing or selector.chunk_possible(*s)]
            ahead = list(selector.columns if not pt.storage.packed else selector.first_columns)
        else:
            ahead = names + ([] if keep_flagged or "dq" in names else ["dq"])
        if not pt.storage.packed:  # interleaved rows: one read of every needed column
            ahead = list(dict.fromkeys(ahead + names + ([] if keep_flagged else ["dq"])))
        ahead = self._ahead(ahead, indexing)

        def work(span: Span, scratch: Scratch) -> Any:
            src = RowSource(pt, span[0], span[1], pt.read(ahead, *span, buffers=scratch.get if reuse else None) if ahead else {},
                            scratch)
            if indexing:
                indexing.add(span[0], src.full)
            idx = selector.select(src) if selector is not None else None
            batch = reduce_chunk(src, idx, names, keep_flagged, flagged_lambda, dense)
            return consumer(batch) if consumer is not None else batch

        self.progress.start(phase, pt.nrows)
        self.progress.advance(pt.nrows - sum(b - a for a, b in spans))  # chunks the criteria rule out
        return spans, work, indexing


#: a folding pass of fewer chunks runs on threads (a fork costs a few milliseconds)
FORK_MIN_SPANS = 2 * WORKERS


def may_fork() -> bool:
    """Fork only on Linux (macOS's system libraries do not survive a fork of a process with
    threads), from the main thread (not from a Dask task's thread)."""
    return WORKERS > 1 and sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()
