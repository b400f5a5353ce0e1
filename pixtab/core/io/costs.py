"""What a read plan costs, so that the planner never loses to the full scan.

The row order (:mod:`.order`) bounds a cut by probing pages: a cost per
(IFU, slice) run, whatever the table size, plus one selection chunk per range
it returns. The full scan costs bytes: the first test's columns of every row,
read and tested. The planner takes the order path only when its estimate is
clearly below the full scan's (``MARGIN``), and joins ranges whose gap costs
less to read than a range of its own (:func:`coalesce`).

The constants are seconds on a warm page cache, measured on the 2-core
development machine (loaded: only their ratios matter; ``benchmarks/scan.py``
re-measures the decision end to end). Cold, the full scan streams at disk
speed and probing pays a seek per page, which only widens the full scan's
side of a close call.
"""

from __future__ import annotations

from collections.abc import Sequence

from .selection import Selector

#: per byte the selection pass reads whole and tests (the first test's columns)
BYTE_COST = 1.2e-9
#: per range the selection pass reads (a chunk of its own: a task, a read call, the tests)
RANGE_COST = 65e-6
#: per page the order path probes (a read and the order checks on it)
PROBE_COST = 85e-6
#: pages probed per run to find the runs, and per run and wavelength window for the band
PAGES_PER_RUN = 1.1
PAGES_PER_BAND = 1.6
#: (IFU, slice) runs of one exposure of a full table
RUNS_PER_EXPOSURE = 24 * 48
#: the wavelengths a MUSE pixel table covers (Angstrom), and the slack of a band's edges
LAMBDA_RANGE = (4600.0, 9400.0)
BAND_SLACK = 22.0
#: the order path must cost less than this fraction of the full scan
MARGIN = 0.7


def scan_bytes(selector: Selector) -> int:
    """Bytes per row the selection pass reads whole (interleaved rows: the whole row)."""
    pt = selector.pt
    if not pt.storage.packed:
        return int(getattr(pt.storage, "row_bytes", 32))
    cols = selector.first_columns or ("lambda",)
    return sum(pt.columns[c].dtype.itemsize for c in cols)


def full_cost(selector: Selector) -> float:
    return selector.pt.nrows * scan_bytes(selector) * BYTE_COST


def _fraction(selector: Selector) -> tuple[float, float]:
    """(fraction of the rows, fraction of the runs) the order path keeps."""
    c = selector.criteria
    lo, hi = LAMBDA_RANGE
    parts = []
    if c.lambdas:
        width = sum(max(0.0, min(b, hi) - max(a, lo)) + 2 * BAND_SLACK for a, b in c.lambdas)
        parts.append(min(1.0, width / (hi - lo)))
    codes = [len(v) / n for v, n in ((c.ifus, 24), (c.slices, 48), (c.stacks, 4)) if v]
    if c.method == "or":
        rows = min(1.0, sum(parts) + sum(codes))
        return rows, 1.0
    runs = 1.0
    for f in codes:
        runs *= min(1.0, f)
    rows = runs * (parts[0] if parts else 1.0)
    return rows, runs


def order_cost(selector: Selector, exposures: int) -> float:
    """Estimated cost of the order path: probing, one chunk per range, the rows kept."""
    c = selector.criteria
    runs = exposures * RUNS_PER_EXPOSURE
    windows = len(c.lambdas)
    rows, kept = _fraction(selector)
    probe = runs * PAGES_PER_RUN + (runs * kept * windows * PAGES_PER_BAND)
    ranges = runs * kept * windows if windows else exposures * 4
    return probe * PROBE_COST + ranges * RANGE_COST + rows * full_cost(selector)


def order_pays(selector: Selector, exposures: int) -> tuple[bool, str]:
    """Is the order path worth probing? (and the estimates, for -v)"""
    order, full = order_cost(selector, exposures), full_cost(selector)
    note = f"estimated cost: row order {order * 1e3:.0f} ms, full scan {full * 1e3:.0f} ms"
    return order < MARGIN * full, note


def gap_rows(selector: Selector) -> int:
    """Rows between two ranges below which reading them costs less than a range of its own."""
    return int(RANGE_COST / (scan_bytes(selector) * BYTE_COST))


def coalesce(spans: Sequence[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """``spans`` (sorted, disjoint) with those closer than ``gap`` rows joined."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and a - out[-1][1] < gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out
