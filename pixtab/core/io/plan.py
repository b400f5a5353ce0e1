"""The one place that decides which row ranges a selection reads.

Given a table and criteria, :func:`plan_rows` returns the row ranges that can
hold selected rows; the selection pass runs its row tests on those ranges
only (every row test still runs on every row read, so a range that is too
wide costs time, never correctness). Sources of knowledge, best first:

1. an index of the table (:mod:`.index`, found by :mod:`.index_store`):
   per-block bounds rule blocks out exactly, whatever the row order;
2. the pipeline row order (:mod:`.order`): run boundaries by bisection on
   ``origin``, the wavelength band of each run by interpolation on
   ``lambda``, reading a few pages and checking the order on each (what this
   can and cannot guarantee is spelled out in :mod:`.order`);
3. the full scan: every row (forced by ``full_scan``, and whenever neither
   source bounds the criteria).

Exposure criteria are row ranges from the EXPn FIRST/LAST keywords in every
path. IFU, slice and stack criteria become runs of rows (from the index or by
bisection), so a cut to one IFU reads that IFU's rows and nothing else.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from . import costs, index_store
from .bounds import candidate_blocks, code_lut, sky_shapes, unbounded
from .index import TableIndex
from .bands import LambdaHints, lambda_band
from .order import Disorder, Pages, find_runs
from .selection import Selector

log = logging.getLogger(__name__)

Span = tuple[int, int]


@dataclass
class Plan:
    """Row ranges to read (sorted, disjoint) and how they were found."""

    ranges: list[Span]
    path: str  # 'full scan', 'index', 'order'
    probe_bytes: int = 0  # bytes the planner itself read
    notes: list[str] = field(default_factory=list)
    #: every row of ``ranges`` is selected (exact runs of an index, IFU/slice/stack/exposure
    #: criteria only): the selection pass need not read them
    whole: bool = False

    @property
    def rows(self) -> int:
        return sum(b - a for a, b in self.ranges)


def merge(spans: list[Span]) -> list[Span]:
    """Sorted, disjoint, non-empty union of ``spans`` (touching spans joined)."""
    out: list[Span] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def intersect(x: list[Span], y: list[Span]) -> list[Span]:
    """Intersection of two sorted disjoint span lists."""
    out: list[Span] = []
    i = j = 0
    while i < len(x) and j < len(y):
        a, b = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if a < b:
            out.append((a, b))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return out


def segments(selector: Selector) -> list[tuple[int, Span]]:
    """(exposure number, rows) covering the table, as :meth:`ExposureMap.runs` numbers them."""
    return [(exp, (a, b)) for a, b, exp in selector.exposures.runs(0, selector.pt.nrows)]


def exposure_spans(selector: Selector) -> list[Span] | None:
    """Rows of the selected exposures (None: no exposure criterion, or one exposure)."""
    exps = selector.criteria.exps
    if exps is None or not selector.exposures.combined:
        return None
    return merge([s for e, s in segments(selector) if e in exps])


# -- with an index ------------------------------------------------------------


def _index_plan(index: TableIndex, selector: Selector) -> Plan:
    spans = index.block_rows(candidate_blocks(index, selector))
    c = selector.criteria
    lut = code_lut(c)
    if c.method == "and" and lut is not None and index.run_starts is not None:
        stops = np.append(index.run_starts[1:], index.nrows)
        keep = lut[index.run_codes.astype(np.int64)]  # type: ignore[union-attr]
        runs = merge([(int(a), int(b)) for a, b in zip(index.run_starts[keep], stops[keep])])
        spans = intersect(spans, runs)
        only_codes = not (c.lambdas or c.apertures or sky_shapes(c) or c.ypix or unbounded(c))
        return Plan(spans, "index", whole=only_codes)  # exposures: exact ranges, cut by plan_rows
    return Plan(spans, "index")


# -- from the row order -------------------------------------------------------


def _order_useful(selector: Selector) -> bool:
    """Can the order bound the criteria? (AND: any of lambda/IFU/slice/stack; OR: only those.)"""
    c = selector.criteria
    bounded = bool(c.lambdas or c.ifus or c.slices or c.stacks)
    if c.method == "and":
        return bounded
    return bounded and not (c.apertures or sky_shapes(c) or c.ypix or unbounded(c))


def _order_plan(pt_pages: dict[str, Pages], selector: Selector) -> Plan:
    c = selector.criteria
    spans: list[Span] = []
    notes: list[str] = []
    lut = code_lut(c) if c.method == "and" else None
    # One thread: the probes are short reads and checks (threads only waited on the GIL).
    for exp, (a, b) in segments(selector):
        exp_hit = c.exps is not None and exp in c.exps
        if c.method == "and" and c.exps is not None and not exp_hit:
            continue
        if c.method == "or" and exp_hit:
            spans.append((a, b))
            continue
        try:
            # Every run boundary of the exposure is visited, even for one IFU: that is
            # where codes out of order show (bisecting straight to the IFU's codes would
            # assume them sorted; runs in another order would then be cut unseen).
            runs = find_runs(pt_pages["origin"], a, b)
        except Disorder:
            notes.append(f"rows {a}:{b}: (IFU, slice) codes not in pipeline order; scanned whole")
            spans.append((a, b))
            continue
        spans += _runs_candidates(runs, selector, lut, pt_pages)
    probe = sum(p.bytes_read for p in pt_pages.values())
    return Plan(merge(spans), "order", probe, notes)


def _runs_candidates(
    runs: list[tuple[int, int, int]],
    selector: Selector,
    lut: np.ndarray | None,
    pages: dict[str, Pages],
) -> list[Span]:
    c = selector.criteria
    if c.method == "and":
        live = [r for r in runs if lut is None or lut[r[2]]]
        if not c.lambdas:
            return [(a, b) for a, b, _ in live]
        hints = LambdaHints()
        return [s for a, b, _ in live for s in lambda_band(pages["lambda"], a, b, c.lambdas, hints=hints)]
    out: list[Span] = []
    for name, values in (("ifus", c.ifus), ("slices", c.slices), ("stacks", c.stacks)):
        if values:
            one = code_lut(type(c)(**{name: values}))
            out += [(a, b) for a, b, code in runs if one is not None and one[code]]
    if c.lambdas:
        hints = LambdaHints()
        out += [s for a, b, _ in runs for s in lambda_band(pages["lambda"], a, b, c.lambdas, hints=hints)]
    return out


# -- the planner ----------------------------------------------------------------


@dataclass
class PlanOptions:
    """How the planner may work: ``full_scan`` forces every row (as does ``build_index``,
    which feeds the rows read to an index builder); ``index`` is used when given,
    else one is looked up when ``use_index``; ``use_order`` allows probing, when
    :mod:`.costs` says it pays (always with ``costs`` False: tests)."""

    full_scan: bool = False
    build_index: bool = False
    index: TableIndex | None = None
    use_index: bool = True
    use_order: bool = True
    costs: bool = True


def plan_rows(selector: Selector, options: PlanOptions | None = None) -> Plan:
    """The row ranges the selection pass must read for ``selector``'s criteria."""
    opt = options or PlanOptions()
    pt = selector.pt
    everything = [(0, pt.nrows)] if pt.nrows else []
    exp_spans = exposure_spans(selector)
    notes: list[str] = []
    index, use_index, use_order = opt.index, opt.use_index, opt.use_order
    if opt.full_scan or opt.build_index:
        plan = Plan(everything, "full scan")
    else:
        if index is None and use_index:
            index = index_store.find(pt)
        if index is not None:
            _advise(pt.fd, os.POSIX_FADV_RANDOM)
            plan = _index_plan(index, selector)
        elif use_order and pt.nrows and _order_useful(selector) and _order_pays(selector, opt, notes):
            _advise(pt.fd, os.POSIX_FADV_RANDOM)
            pages = {"origin": Pages(pt, "origin"), "lambda": Pages(pt, "lambda")}
            plan = _order_plan(pages, selector)
            plan.notes[:0] = notes
        else:
            why = notes or ["nothing bounds these criteria without an index"]
            plan = Plan(everything, "full scan", notes=why)
    if exp_spans is not None and selector.criteria.method == "and":
        plan.ranges = intersect(plan.ranges, exp_spans)
    rows = selector.criteria.rows
    if rows is not None and selector.criteria.method == "and":
        plan.ranges = intersect(plan.ranges, merge(rows.spans(pt.nrows)))
        plan.whole = plan.whole and rows.is_range  # a list's spans may be coarse blocks
    elif rows is not None:
        plan.whole = False
    if not plan.whole and opt.costs:
        plan.ranges = costs.coalesce(plan.ranges, costs.gap_rows(selector))
    if plan.path == "full scan":
        _advise(pt.fd, os.POSIX_FADV_NORMAL)
    _log(pt.path, pt.nrows, plan)
    return plan


def _order_pays(selector: Selector, opt: PlanOptions, notes: list[str]) -> bool:
    if not opt.costs:
        return True
    pays, note = costs.order_pays(selector, len(selector.exposures.numbers))
    notes.append(note + ("" if pays else f": the row order is not below {costs.MARGIN:.0%} of the full scan, which is taken"))
    return pays


def _advise(fd: int, advice: int) -> None:
    """Scattered reads ahead (RANDOM): no kernel read-ahead on this descriptor, which would
    fetch far more than the pages asked for (measured: 84 MB from storage for 44 MB read);
    a full scan (NORMAL) wants it."""
    try:
        os.posix_fadvise(fd, 0, 0, advice)
    except (AttributeError, OSError):
        pass


def chunked(spans: list[Span], chunk_rows: int) -> list[Span]:
    """``spans`` cut at multiples of ``chunk_rows`` (chunks of a full scan stay aligned)."""
    out: list[Span] = []
    for a, b in spans:
        while a < b:
            e = min(b, (a // chunk_rows + 1) * chunk_rows)
            out.append((a, e))
            a = e
    return out


def with_gaps(spans: list[Span], nrows: int) -> list[Span]:
    """``spans`` (sorted, disjoint) with the rows between them as spans of their own."""
    out: list[Span] = []
    pos = 0
    for a, b in spans:
        if a > pos:
            out.append((pos, a))
        out.append((a, b))
        pos = b
    if pos < nrows:
        out.append((pos, nrows))
    return out


def _log(path: str, nrows: int, plan: Plan) -> None:
    log.debug(
        "%s: %s path: %d range(s), %d of %d rows to scan; the planner read %d bytes",
        path,
        plan.path,
        len(plan.ranges),
        plan.rows,
        nrows,
        plan.probe_bytes,
    )
    if plan.whole:
        log.debug("%s: every row of those ranges is selected (exact runs of the index): none is tested", path)
    for note in plan.notes:
        log.debug("%s: %s", path, note)


def log_io(path: str, before: tuple[int, int] | None) -> None:
    """Debug line: bytes this process read since ``before`` (see :func:`process_io`)."""
    after = process_io()
    if before is not None and after is not None:
        read, fetched = after[0] - before[0], after[1] - before[1]
        if fetched <= read:
            log.debug("%s: read %d bytes (%d from storage, the rest from the page cache)", path, read, fetched)
        else:  # the kernel's read-ahead fetched pages beyond those asked for
            log.debug("%s: read %d bytes; storage delivered %d (read-ahead included)", path, read, fetched)


def process_io() -> tuple[int, int] | None:
    """(bytes read by read calls, bytes fetched from storage) so far by this process (Linux)."""
    try:
        with open("/proc/self/io") as f:
            fields = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        return int(fields["rchar"]), int(fields["read_bytes"])
    except (OSError, KeyError, ValueError):
        return None
