"""Many sources from one table: one output per catalogue source, in one selection pass and
one copy pass over the input.

Each source's output is, byte for byte, the output of a one-source extract with the same
other criteria (the source's aperture AND-ed with them). To make that true by
construction, every source is selected by the very test a one-source extract runs, on the
same rows:

* the criteria other than the aperture are evaluated once per chunk;
* the survivors are sorted by ``ypos`` once per chunk, and each source's aperture test
  runs on the survivors inside its ``ypos`` band (the band test is the first thing the
  aperture test does anyway, so the rows it sees are those of a lone run), so the cost per
  source is that of its own rows, not of the chunk;
* of those, each source keeps the rows inside a box on xpos that no row of its aperture
  can leave (positioned and pixel tables; outward-rounded float32 bounds, rows that RA
  wrapping could bring in kept), and computes their sky positions: these are element-wise
  (:meth:`~pixtab.core.io.selection.Selector.sky_positions`), so each row's values, and
  each source's test results, are those of a lone run;
* with ``or`` (rows meeting any criterion), each source runs its whole one-source selector.

The pass itself is the scan engine's (:meth:`pixtab.core.io.scan.Scan.select_many`).

The copy pass reads the blocks that hold rows of any source, once, and each source picks
its rows out of each read. Memory is bounded by the rows waiting to be written: each output
batches its share of :data:`~pixtab.core.ops.extract.WRITE_ROWS` rows (at least
:data:`MIN_BATCH_ROWS`), so a hundred wide apertures hold no more than one.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import CriteriaError
from ..fits.header import Header
from ..format.catalog import Source
from ..format.sky import SkyFrame
from ..io.bounds import xpos_band
from ..io.plan import Plan, PlanOptions, plan_rows
from ..io.rowsource import RowSource
from ..io.scan import Scan, Selection
from ..io.criteria import Aperture, Criteria
from ..io.selection import Selector
from ..io.table import PixTable
from ..progress import SILENT, Progress
from .extract import WRITE_ROWS, finish_output, open_output


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
        # bands as arrays (no band: the whole line, never empty)
        self.band_lo = np.array([-np.inf if b is None else b[0] for b in self.bands])
        self.band_hi = np.array([np.inf if b is None else b[1] for b in self.bands])
        # ... and on xpos, where the frame bounds it: each source then computes the sky
        # positions of the rows near it, not of its whole band across the field
        frame = SkyFrame.of(pt)
        self.xboxes = [_xpos_box(frame, sel.criteria.apertures[0]) for sel in self.each]
        cols: list[str] = []
        for sel in [self.base, *self.each]:
            cols += [c for c in sel.columns if c not in cols]
        self.columns = cols

    def __len__(self) -> int:
        return len(self.each)

    def select(self, src: RowSource) -> list[np.ndarray]:
        """Chunk-local indices (sorted) of each source's rows in ``src``."""
        if not self.shared:
            return [sel.select(src) for sel in self.each]
        common = self.base.select(src)
        empty = common[:0]
        if common.size == 0:
            return [empty] * len(self.each)
        ypos = src.get("ypos", common)
        order = np.argsort(ypos, kind="stable")
        ys = ypos[order]
        # every source's band at once: only the sources a chunk reaches cost anything
        los = np.searchsorted(ys, self.band_lo, "left")
        his = np.searchsorted(ys, self.band_hi, "right")
        reach = np.flatnonzero(his > los)
        out = [empty] * len(self.each)
        if reach.size == 0:
            return out
        xpos = src.get("xpos", common)
        for k in reach.tolist():
            cand = order[los[k] : his[k]]  # the rows in this source's band (positions in common)
            box = self.xboxes[k]
            if box is not None:
                x = xpos[cand]
                near = (x >= box[0]) & (x <= box[1])
                if box[2]:  # positioned: rows beyond +-180 deg may wrap onto the aperture
                    near |= ~(np.abs(x) < 180.0)
                cand = cand[near]
            if cand.size:
                ra, dec = self.each[k].sky_positions(xpos[cand], ypos[cand])
                out[k] = common[np.sort(cand[self.each[k].aperture_hits(ra, dec)])]
        return out


def _xpos_box(frame: SkyFrame, ap: Aperture) -> tuple[np.float32, np.float32, bool] | None:
    """[lo, hi] on xpos outside which a row cannot be in ``ap`` (with True: positioned, where
    only rows with |xpos| < 180 deg may be ruled out); None: no such bound.

    Positioned: the test wraps RA - ra_c to [-180, 180); with the band well inside
    (-180, 180) and narrower than a degree, a row with |xpos| < 180 outside it is more
    than the band's half width from the centre whichever way it wraps.
    """
    band = xpos_band(frame, ap)
    if band is None:
        return None
    centre, half, period = band
    if period and (half >= 0.5 or abs(centre) + half >= 179.0):
        return None
    return _outward(centre - half, -np.inf), _outward(centre + half, np.inf), bool(period)


def _outward(bound: float, away: float) -> np.float32:
    """``bound`` as a float32 (xpos's type, so the comparison is float32's) rounded away
    from the band's centre."""
    b = np.float32(bound)
    return np.nextafter(b, np.float32(away)) if (float(b) < bound if away > 0 else float(b) > bound) else b


#: above this many sources the planner bounds rows by the other criteria only
PLAN_MAX_SOURCES = 256


def plan_sources(pt: PixTable, base: Criteria, sources: list[Source], options: PlanOptions | None = None) -> Plan:
    """The rows any source can take: one plan for the other criteria with every source's
    aperture (OR-ed, as apertures are). With ``or`` and very many sources: every row."""
    if len(sources) > PLAN_MAX_SOURCES:
        if base.method == "or":
            return plan_rows(Selector(pt, base), dataclasses.replace(options or PlanOptions(), full_scan=True))
        return plan_rows(Selector(pt, base), options)  # a superset: the apertures only narrow it
    apertures = [source_criteria(base, s).apertures[0] for s in sources]
    return plan_rows(Selector(pt, dataclasses.replace(base, apertures=apertures)), options)


def select_sources(
    pt: PixTable, base: Criteria, sources: list[Source], progress: Progress = SILENT, options: PlanOptions | None = None
) -> list[Selection]:
    """One selection pass (phase ``select``): the rows of each source, as one-source extracts select them."""
    if not sources:
        return []
    return Scan(pt, None, options, progress).select_many(_Sources(pt, base, sources), plan_sources(pt, base, sources, options))


#: the fewest rows an output of a catalogue writes at once (its share of WRITE_ROWS)
MIN_BATCH_ROWS = 4096


def write_sources(
    pt: PixTable,
    selections: list[Selection],
    criteria: list[Criteria],
    fds: list[int],
    layout: str = "image",
    progress: Progress = SILENT,
    round_float32: bool = False,
) -> list[Header]:
    """One copy pass (phase ``copy``) over the blocks holding any source's rows: each
    selection into its open, empty file. The outputs together hold at most about
    :data:`~.extract.WRITE_ROWS` rows waiting to be written, whatever their number."""
    batch = max(MIN_BATCH_ROWS, WRITE_ROWS // len(selections))
    outputs = [open_output(pt, s, c, fd, layout, round_float32, batch) for s, c, fd in zip(selections, criteria, fds)]
    union = selections[0].union(selections[1:])
    holders: dict[int, list[int]] = {}  # chunk number -> the sources with rows in it
    for k, sel in enumerate(selections):
        for i in sel.filled:
            holders.setdefault(i, []).append(k)
    scan = Scan(pt, progress=progress)
    spans = scan.copy_spans(union)  # (start, stop, chunk number) of each read, in order
    progress.start("copy", sum(b - a for a, b, _ in spans))
    # each read (inside one chunk) whole and as stored, in buffers reused from the next read
    # on: big-endian values go to the outputs with no byte swap either way
    reads = scan.copy(union, list(pt.columns), whole=True, reuse=True, native=False)
    for (start, stop, i), (_, arrays) in zip(spans, reads, strict=True):
        for k in holders.get(i, ()):
            at = selections[k].chunks[i].within(start, stop)
            if at.size == stop - start:
                outputs[k][1].add(start, {n: v.copy() for n, v in arrays.items()})  # the sink may keep them
            elif at.size:
                outputs[k][1].add(at + start, {n: v[at] for n, v in arrays.items()})
    for sel, (header, sink) in zip(selections, outputs):
        finish_output(pt, sel, header, sink)
    return [header for header, _ in outputs]
