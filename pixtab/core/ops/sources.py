"""Many sources from one table: one output per catalogue source, in one selection pass and
one copy pass over the input.

Each source's output is, byte for byte, the output of a one-source extract with the same
other criteria (the source's aperture AND-ed with them). To make that true by
construction, every source is selected by the very test a one-source extract runs, on the
same rows:

* the criteria other than the aperture are evaluated once per chunk;
* the survivors are sorted by ``ypos`` once per chunk, and each source's aperture test
  runs on the survivors inside its ``ypos`` band (the band test is the first thing the
  aperture test does anyway, so the rows it sees and the results are those of a lone run),
  so the cost per source is that of its own rows, not of the chunk;
* with ``or`` (rows meeting any criterion), each source runs its whole one-source selector.

The copy pass reads the blocks that hold rows of any source, once, and hands each source
its rows. Memory is bounded by the rows kept (each output's writer batches at most
:data:`~pixtab.core.ops.extract.WRITE_ROWS` rows), not by the number of sources times a
buffer.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from astropy.io import fits

from ..errors import CriteriaError
from ..format.catalog import Source
from ..io.plan import Plan, PlanOptions, chunked, plan_rows, with_gaps
from ..io.rowsource import RowSource, Scratch
from ..io.selection import Aperture, Criteria, Selector
from ..io.table import PixTable
from ..progress import SILENT, Progress
from .extract import (
    SELECT_CHUNK_ROWS,
    SELECT_WORKERS,
    ChunkSelection,
    Selection,
    finish_output,
    open_output,
    ordered_map,
)


def source_criteria(base: Criteria, source: Source) -> Criteria:
    """The criteria of a one-source extract of ``source``: its aperture and ``base``'s others."""
    if base.apertures:
        raise CriteriaError("a catalogue gives the apertures: give no other aperture", field="catalog")
    aperture = Aperture(source.shape, source.ra, source.dec, source.size, plain=False)
    return dataclasses.replace(base, apertures=[aperture])


class _Sources:
    """The one-source selectors of every source, and the shared part of their work."""

    def __init__(self, pt: PixTable, base: Criteria, sources: list[Source]) -> None:
        self.base = Selector(pt, base)  # no aperture: the criteria every source shares
        self.each = [Selector(pt, source_criteria(base, s)) for s in sources]
        self.shared = base.method == "and"
        self.bands = [sel.aperture_band() for sel in self.each]
        cols: list[str] = []
        for sel in [self.base, *self.each]:
            cols += [c for c in sel.columns if c not in cols]
        self.columns = cols

    def select(self, src: RowSource) -> list[np.ndarray]:
        """Chunk-local indices (sorted) of each source's rows in ``src``."""
        if not self.shared:
            return [sel.select(src) for sel in self.each]
        common = self.base.select(src)
        if common.size == 0:
            return [common] * len(self.each)
        ypos = src.get("ypos", common)
        order = np.argsort(ypos, kind="stable")
        ys = ypos[order]
        out = []
        for sel, band in zip(self.each, self.bands):
            if band is None:
                cand = common
            else:
                lo, hi = np.searchsorted(ys, band[0], "left"), np.searchsorted(ys, band[1], "right")
                if lo == hi:
                    out.append(common[:0])
                    continue
                cand = common[np.sort(order[lo:hi])]
            out.append(cand[sel.aperture_test(src, cand)])
        return out


#: above this many sources the planner bounds rows by the other criteria only
PLAN_MAX_SOURCES = 256


def plan_sources(pt: PixTable, base: Criteria, sources: list[Source]) -> Plan:
    """The rows any source can take: one plan for the other criteria with every source's
    aperture (OR-ed, as apertures are). With ``or`` and very many sources: every row."""
    if len(sources) > PLAN_MAX_SOURCES:
        if base.method == "or":
            return plan_rows(Selector(pt, base), PlanOptions(full_scan=True))
        return plan_rows(Selector(pt, base))  # a superset: the apertures only narrow it
    apertures = [source_criteria(base, s).apertures[0] for s in sources]
    return plan_rows(Selector(pt, dataclasses.replace(base, apertures=apertures)))


def select_sources(pt: PixTable, base: Criteria, sources: list[Source], progress: Progress = SILENT) -> list[Selection]:
    """One selection pass (phase ``select``): the rows of each source, as one-source extracts select them."""
    work_of = _Sources(pt, base, sources)
    progress.start("select", pt.nrows)
    chunk_rows = SELECT_CHUNK_ROWS[pt.storage.packed]
    bounds = chunked(plan_sources(pt, base, sources).ranges, chunk_rows)  # planner hook
    live = [b for b in bounds if work_of.base.chunk_possible(*b)]
    ahead = list(work_of.base.first_columns or ("ypos",)) if pt.storage.packed else work_of.columns
    local = threading.local()

    def work(span: tuple[int, int]) -> tuple[int, int, list[np.ndarray]]:
        start, stop = span
        if not hasattr(local, "scratch"):
            local.scratch = Scratch()
        arrays = pt.read(ahead, start, stop)
        return start, stop, work_of.select(RowSource(pt, start, stop, arrays, local.scratch))

    exposures = work_of.base.exposures
    found: list[dict[int, ChunkSelection]] = [{} for _ in sources]
    per_exp = [{e: 0 for e in exposures.numbers} for _ in sources]
    pt.fd  # open the file before the workers share it
    with ThreadPoolExecutor(max_workers=SELECT_WORKERS, thread_name_prefix="pixtab-select") as pool:
        for start, stop, picks in ordered_map(pool, work, live):
            for k, idx in enumerate(picks):
                if idx.size:
                    found[k][start] = ChunkSelection.of(start, stop, idx)
                    exposures.count(start, idx, per_exp[k])
            progress.advance(stop - start)
    progress.advance(pt.nrows - sum(b - a for a, b in live))
    return [
        Selection(pt.nrows, [f.get(a) or ChunkSelection(a, b, 0, "none") for a, b in with_gaps(bounds, pt.nrows)], e, exposures)
        for f, e in zip(found, per_exp)
    ]


def write_sources(
    pt: PixTable,
    selections: list[Selection],
    criteria: list[Criteria],
    fds: list[int],
    layout: str = "image",
    progress: Progress = SILENT,
    round_float32: bool = False,
) -> list[fits.Header]:
    """One copy pass (phase ``copy``): each selection into its open, empty file."""
    names = list(pt.columns)
    outputs = [open_output(pt, s, c, fd, layout, round_float32) for s, c, fd in zip(selections, criteria, fds)]
    union_chunks = []
    for i, cs in enumerate(selections[0].chunks):
        parts = [s.chunks[i].indices() for s in selections if s.chunks[i].count]
        idx = np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)
        union_chunks.append(ChunkSelection.of(cs.start, cs.stop, idx))
    union = Selection(pt.nrows, union_chunks, {}, selections[0].exposures)
    ranges = union.copy_ranges
    progress.start("copy", sum(b - a for a, b, _ in ranges))
    cached: tuple[int, list[np.ndarray | None]] = (-1, [])
    for chunk, (_, _, i) in zip(pt.iter_ranges(names, [(a, b) for a, b, _ in ranges]), ranges):
        if cached[0] != i:
            cached = (i, [s.chunks[i].indices() if s.chunks[i].kind not in ("none", "all") else None for s in selections])
        offset = chunk.start - union_chunks[i].start
        for sel, (_, sink), local in zip(selections, outputs, cached[1]):
            kind = sel.chunks[i].kind
            if kind == "all":
                sink.add(chunk.start, dict(chunk.arrays))
            elif kind != "none":
                lo, hi = np.searchsorted(local, [offset, offset + len(chunk)])  # type: ignore[arg-type]
                if hi > lo:
                    rows = local[lo:hi] - offset  # type: ignore[index]
                    sink.add(chunk.start + rows, {n: chunk[n][rows] for n in names})
        progress.advance(len(chunk))
    for sel, (header, sink) in zip(selections, outputs):
        finish_output(pt, sel, header, sink)
    return [header for header, _ in outputs]
