"""Extract rows of a pixel table into a new one, in two streaming passes.

1. **Selection**: only the columns the criteria need are read, chunk by chunk
   (the first test's columns whole, with read-ahead; the others lazily, only in
   the blocks of rows still in play). Each chunk keeps a compact record of its
   selected rows (all / none / uint32 indices / packed bits, whichever is
   smallest), and the rows kept per exposure are counted.
2. **Copy**: only the 16 Ki-row blocks that hold selected rows are read, every
   column, and the selected rows are streamed to a :class:`PixtableWriter`
   (in batches: :class:`RowBatcher`).

Output columns follow :func:`pixtab.core.format.columns.output_columns`, the
rule convert uses (an ASCII input is narrowed to float32/int32 the same way).
The caller opens the output (``fd``) once the selection is known, so that an
empty selection leaves no file: :func:`select_rows`, then
:func:`write_selection`.

The header follows the DRS rule for removed rows (format doc section 5.1):
LIMITS recomputed, EXPn FIRST/LAST shifted with the exposure numbers kept
(an emptied exposure ends with LAST = FIRST - 1), COMBINED and the XOFFSET
keywords unchanged, MERGED = number of IFUs left when the input has it. The
PIXTABLE_FLAT_FIELD extension is carried, trimmed to the wavelength cut
+- 2.5 Angstrom as the DRS does; other extensions are copied with a warning.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import numpy as np
from astropy.io import fits

from ..errors import EmptySelectionError
from ..fits.hdu import ColumnSpec, HDUCopy
from ..format import origin as org
from ..format.columns import FLAT_FIELD_EXTNAME, narrow, output_columns
from ..format.exposures import ExposureMap
from ..format.keywords import key
from ..format.limits import LimitsAccumulator, finish_limits, reserve_limits
from ..io.indexing import IndexingPass
from ..io.plan import PlanOptions, chunked, plan_rows, with_gaps
from ..io.rowsource import RowSource, Scratch
from ..io.selection import Criteria, Selector
from ..io.table import PixTable
from ..io.writer import PixtableWriter, RowBatcher, primary_header_for
from .flatfield import trimmed_flat_field
from ..progress import SILENT, Progress

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

COPY_BLOCK_SHIFT = 14  # the copy pass reads 16 Ki-row blocks that hold selected rows
COPY_MAX_ROWS = 1 << 20  # at most this many rows per read (all columns)
WRITE_ROWS = 1 << 20  # selected rows gathered before one write
SELECT_WORKERS = 2  # threads of the selection pass (one per core here)
#: rows per selection chunk: small enough for the CPU caches (interleaved rows are 7x wider)
SELECT_CHUNK_ROWS = {True: 1 << 19, False: 1 << 18}  # by layout: packed columns, or interleaved rows


# -- pass 1: selection -----------------------------------------------------------


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


@dataclass
class Selection:
    """The outcome of the selection pass over one table."""

    nrows: int
    chunks: list[ChunkSelection]
    per_exposure: dict[int, int]  # selected rows per exposure number (0: single exposure)
    exposures: ExposureMap

    @property
    def count(self) -> int:
        return sum(c.count for c in self.chunks)

    @cached_property
    def shifted(self) -> list[tuple[int, int, int]]:
        """(exp, FIRST, LAST) of the output (DRS rule; empty for a single exposure)."""
        return self.exposures.shifted(self.per_exposure)

    @cached_property
    def copy_ranges(self) -> list[tuple[int, int, int]]:
        """(start, stop, chunk number) of the row blocks the copy pass reads."""
        return _copy_ranges(self)


def select_rows(
    pt: PixTable,
    criteria: Criteria,
    progress: Progress = SILENT,
    chunk_rows: int | None = None,
    plan: PlanOptions | None = None,
) -> Selection:
    """Run the selection pass (phase ``select``): which rows of ``pt`` meet ``criteria``,
    reading only the row ranges the planner (:mod:`pixtab.core.io.plan`) says can hold them."""
    selector = Selector(pt, criteria)
    progress.start("select", pt.nrows)
    chunk_rows = chunk_rows or SELECT_CHUNK_ROWS[pt.storage.packed]
    # -- planner hook: the ranges to read, and an optional index built on the way --
    planned = plan_rows(selector, plan)
    bounds = chunked(planned.ranges, chunk_rows)
    indexing = IndexingPass.start(pt, plan)
    # --
    live = [b for b in bounds if indexing or selector.chunk_possible(*b)]
    # Interleaved rows cost the same to read for one column or all: take them all at once.
    ahead = list(selector.first_columns if pt.storage.packed else selector.columns)
    ahead += [c for c in (indexing.columns if indexing else ()) if c not in ahead]

    local = threading.local()

    def work(span: tuple[int, int]) -> tuple[np.ndarray, ChunkSelection]:
        start, stop = span
        if planned.whole:  # every row of the span is selected: nothing to read
            return np.arange(stop - start), ChunkSelection(start, stop, stop - start, "all")
        if not hasattr(local, "scratch"):
            local.scratch = Scratch()
        arrays = pt.read(ahead, start, stop) if ahead else {}
        if indexing:
            indexing.add(start, arrays)
        idx = selector.select(RowSource(pt, start, stop, arrays, local.scratch))
        return idx, ChunkSelection.of(start, stop, idx)

    found: dict[int, ChunkSelection] = {}
    per_exp: dict[int, int] = {e: 0 for e in selector.exposures.numbers}
    pt.fd  # open the file before the workers share it
    # Each worker reads and selects whole chunks: positional reads and numpy
    # release the GIL, so reading and computing overlap on both cores.
    with ThreadPoolExecutor(max_workers=SELECT_WORKERS, thread_name_prefix="pixtab-select") as pool:
        for idx, cs in ordered_map(pool, work, live):
            found[cs.start] = cs
            selector.exposures.count(cs.start, idx, per_exp)
            progress.advance(cs.stop - cs.start)
    progress.advance(pt.nrows - sum(b - a for a, b in live))
    if indexing:
        indexing.finish()
    chunks = [found.get(a) or ChunkSelection(a, b, 0, "none") for a, b in with_gaps(bounds, pt.nrows)]
    return Selection(pt.nrows, chunks, per_exp, selector.exposures)


def ordered_map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: list[T]) -> Iterator[R]:
    """``pool.map`` with at most two tasks per worker queued (bounded memory), in order."""
    window = 2 * SELECT_WORKERS
    futures: deque[Future[R]] = deque()
    for item in items:
        futures.append(pool.submit(fn, item))
        if len(futures) >= window:
            yield futures.popleft().result()
    while futures:
        yield futures.popleft().result()


# -- the output header -----------------------------------------------------------


def output_header(pt: PixTable, selection: Selection, shifted: list[tuple[int, int, int]]) -> fits.Header:
    """The input's primary header with the DRS updates known after the selection pass.

    EXPn FIRST/LAST are final (``shifted``: :meth:`ExposureMap.shifted`);
    LIMITS hold placeholders (absent for 0 rows) so that the copy pass
    changes values only, never the header size.
    """
    hdr = primary_header_for(pt.primary_header)
    for exp, first, last in shifted:
        hdr[key(f"EXP{exp} FIRST")] = first
        hdr[key(f"EXP{exp} LAST")] = last
    reserve_limits(hdr, selection.count > 0)
    return hdr


# -- extra HDUs ------------------------------------------------------------------


def extra_hdus(pt: PixTable, criteria: Criteria) -> list[bytes | HDUCopy]:
    """Every non-column HDU of the input, for the output (the flat field trimmed)."""
    out: list[bytes | HDUCopy] = []
    for h in pt.extra_hdus:
        if (h.extname or "").upper() == FLAT_FIELD_EXTNAME:
            out.append(trimmed_flat_field(pt, h, criteria.lambda_span()))
        else:
            name = h.extname or f"HDU {h.index}"
            log.warning("%s: extension %s is not part of the pixel table format; copied unchanged", pt.path, name)
            out.append(HDUCopy(pt.fd, h, pt.path))
    return out


# -- pass 2: copy ----------------------------------------------------------------


def _copy_ranges(selection: Selection) -> list[tuple[int, int, int]]:
    """(start, stop, chunk number) of the row blocks the copy pass must read."""
    out = []
    block = 1 << COPY_BLOCK_SHIFT
    for i, cs in enumerate(selection.chunks):
        if cs.kind == "none":
            continue
        if cs.kind == "all":
            runs = [(cs.start, cs.stop)]
        else:
            blocks = np.unique(cs.indices() >> COPY_BLOCK_SHIFT)
            cut = np.flatnonzero(np.diff(blocks) != 1) + 1
            runs = [
                (cs.start + int(r[0]) * block, min(cs.stop, cs.start + (int(r[-1]) + 1) * block))
                for r in np.split(blocks, cut)
            ]
        for a, b in runs:
            for s in range(a, b, COPY_MAX_ROWS):
                out.append((s, min(s + COPY_MAX_ROWS, b), i))
    return out


class Sink:
    """Selected rows on their way to the writer: narrowed (ASCII inputs), measured
    (LIMITS, IFUs left) and written in big batches."""

    def __init__(self, pt: PixTable, writer: PixtableWriter, specs: list[ColumnSpec], round_float32: bool) -> None:
        self.pt, self.writer, self.round_float32 = pt, writer, round_float32
        self.names = {c: s.name for c, s in zip(pt.columns, specs)}
        self.limits = LimitsAccumulator()
        self.ifus: set[int] = set()
        self.rounded = 0
        self.batcher = RowBatcher(list(self.names.values()), WRITE_ROWS, self._write)

    def add(self, rows: int | np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        """Selected input rows ``rows`` (the first row, or every row's index), by input column."""
        if self.pt.storage.from_text:
            for name, values in arrays.items():
                arrays[name], n = narrow(self.pt.path, self.pt.columns[name], values, rows, self.round_float32)
                self.rounded += n
        self.batcher.add({self.names[n]: a for n, a in arrays.items()})

    def _write(self, chunk: dict[str, np.ndarray]) -> None:
        self.limits.add(chunk["xpos"], chunk["ypos"], chunk["lambda"], chunk["origin"])
        self.ifus.update(int(i) for i in np.unique(org.get_ifu(chunk["origin"])))
        self.writer.write(chunk)


def open_output(
    pt: PixTable, selection: Selection, criteria: Criteria, fd: int, layout: str, round_float32: bool
) -> tuple[fits.Header, Sink]:
    """The header and the sink (writer inside) of one output, before any row is copied."""
    specs = output_columns(pt.columns.values(), pt.storage.from_text, pt.path)
    header = output_header(pt, selection, selection.shifted)
    writer = PixtableWriter(fd, header, specs, selection.count, layout, extra_hdus(pt, criteria))
    return header, Sink(pt, writer, specs, round_float32)


def finish_output(pt: PixTable, selection: Selection, header: fits.Header, sink: Sink) -> None:
    """Write the last rows, then the header with what the copy measured (MERGED, LIMITS)."""
    sink.batcher.flush()
    if key("MERGED") in header:
        header[key("MERGED")] = len(sink.ifus)
    crval = pt.centre if pt.wcs == "positioned" else None
    finish_limits(header, sink.limits if selection.count else None, pt.wcs, crval)
    sink.writer.finish(header)


def write_selection(
    pt: PixTable,
    selection: Selection,
    criteria: Criteria,
    fd: int,
    layout: str = "image",
    progress: Progress = SILENT,
    round_float32: bool = False,
) -> fits.Header:
    """Copy the selected rows of ``pt`` into the open, empty file ``fd`` (phase ``copy``).

    Returns the final primary header. ASCII inputs are narrowed by the rule of
    :func:`~pixtab.core.format.columns.narrow` (``round_float32`` as convert's).
    """
    names = list(pt.columns)
    header, sink = open_output(pt, selection, criteria, fd, layout, round_float32)
    ranges = selection.copy_ranges
    progress.start("copy", sum(b - a for a, b, _ in ranges))
    chunk_idx: dict[int, np.ndarray] = {}
    for chunk, (_, _, i) in zip(pt.iter_ranges(names, [(a, b) for a, b, _ in ranges]), ranges):
        cs = selection.chunks[i]
        if cs.kind == "all":
            sink.add(chunk.start, dict(chunk.arrays))
        else:
            if i not in chunk_idx:
                chunk_idx.clear()
                chunk_idx[i] = cs.indices()
            local = chunk_idx[i]
            lo, hi = np.searchsorted(local, [chunk.start - cs.start, chunk.stop - cs.start])
            rows = local[lo:hi] - (chunk.start - cs.start)
            sink.add(chunk.start + rows, {n: chunk[n][rows] for n in names})
        progress.advance(len(chunk))
    finish_output(pt, selection, header, sink)
    return header


# -- the whole operation -------------------------------------------------------


@dataclass
class ExtractResult:
    """What was done, for the CLI's summary."""

    input: str
    output: str | None
    rows: int
    selected: int
    layout: str | None
    exposures: list[dict[str, int]]

    def as_dict(self) -> dict[str, object]:
        return {
            "input": self.input,
            "output": self.output,
            "rows": self.rows,
            "selected": self.selected,
            "layout": self.layout,
            "exposures": self.exposures,
        }


def summarize(pt: PixTable, selection: Selection, output: str | None, layout: str | None) -> ExtractResult:
    if selection.exposures.combined:
        exps = [
            {"exp": e, "selected": selection.per_exposure.get(e, 0), "first": f, "last": la}
            for e, f, la in selection.shifted
        ]
    else:
        exps = [{"exp": 0, "selected": selection.count}]
    return ExtractResult(pt.path, output, pt.nrows, selection.count, layout, exps)


def check_selection(pt: PixTable, selection: Selection, allow_empty: bool) -> None:
    """Raise :class:`EmptySelectionError` (field ``allow_empty``) when nothing is selected
    and an empty table was not asked for."""
    if selection.count == 0 and not allow_empty:
        raise EmptySelectionError(f"{pt.path}: no row matches the criteria; nothing written", field="allow_empty")


def check_columns(pt: PixTable) -> None:
    """Raise before any work when the output columns cannot be written (pipeline types, text)."""
    output_columns(pt.columns.values(), pt.storage.from_text, pt.path)
