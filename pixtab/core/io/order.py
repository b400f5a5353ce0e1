"""Row ranges from the pipeline's row order, found by reading a few pages (no index).

A table in pipeline order (format doc section 2.7) is, within each exposure,
a sequence of runs of equal (IFU, slice) code in increasing code order, and
inside a run lambda follows the CCD row: monotonic up to the tilt of the
slice. :func:`find_runs` locates the run boundaries by bisection on the
``origin`` column; :func:`pixtab.core.io.bands.lambda_band` locates the rows
of a run whose lambda may fall in a window by interpolation search on
``lambda`` (direction detected per run). Both read aligned 4 KiB pages of
one column through :meth:`PixTable.read`, never whole columns.

What is checked, and what cannot be. Every page read is checked: codes must
not decrease within an exposure, in the page and across every run boundary
(each boundary is located on a page that is read); inside a run the CCD row
y must not decrease (within a page and between the pages read: this catches
tables sorted column by column, whose lambda rises and falls in every run);
and lambda must be
*margin-monotonic* in the run's direction (no value below the running
extreme by more than ``LAMBDA_MARGIN``, within and across the pages read).
A violation sends the whole exposure (codes) or run (lambda) to the full
scan. Rows on pages never read cannot be checked, so the claim is exact
under two conditions on those rows: (1) each (IFU, slice) code forms a
single run per exposure (then two pages read with the same code enclose
nothing else: a foreign row between them would be a second run of its own
code or split this one; the DRS itself re-sorts tables that break this), and
(2) lambda on unread rows of a run stays margin-monotonic. A table that
breaks them on rows nobody reads (a row moved into the middle of a run) is
cut wrongly by this path; only an index (:mod:`pixtab.core.io.index`) makes
skipping exact for any order, and the full scan needs no assumption.

LAMBDA_MARGIN: the largest backward step of lambda inside a run measured on
the simulated tables is 0.61 Angstrom (slice curvature) and 0 within a CCD
row of the conformance tables (their runs are not monotonic at all and are
detected as such); the DRS tilt is a few Angstrom. 10 Angstrom covers that
with room, and every page read re-checks it.
"""

from __future__ import annotations

import numpy as np

from .table import PixTable

PAGE_BYTES = 4096
MIN_PAGE_ROWS = 1  # (tests shrink pages; this keeps interleaved rows from shrinking to 1-2 a page)
LAMBDA_MARGIN = 10.0  # Angstrom
#: rows are excluded only beyond the window widened by the margin plus this slack, so that
#: the margin-monotonic check (with the margin alone) leaves them strictly outside
EXCLUDE_SLACK = 1.0  # Angstrom
SMALL_RUN_PAGES = 8  # runs this short are scanned whole (a 32 KiB read beats several probes)
CODE_MASK = (1 << 11) - 1



class Disorder(Exception):
    """The rows read contradict the pipeline order."""


class Pages:
    """Aligned pages of one column, read on demand and cached."""

    def __init__(self, pt: PixTable, name: str) -> None:
        self.pt = pt
        self.name = name
        width = pt.columns[name].dtype.itemsize if pt.storage.packed else pt.storage.row_bytes
        self.rows = max(MIN_PAGE_ROWS, PAGE_BYTES // width)
        self.row_bytes = width
        self._cache: dict[int, np.ndarray] = {}
        self.bytes_read = 0

    def get(self, p: int) -> np.ndarray:
        v = self._cache.get(p)
        if v is None:
            a = p * self.rows
            v = self.pt.read([self.name], a, min(a + self.rows, self.pt.nrows))[self.name]
            self._cache[p] = v
            self.bytes_read += len(v) * self.row_bytes
        return v

    def part(self, p: int, a: int, b: int) -> tuple[int, np.ndarray]:
        """(first row, values) of page ``p`` restricted to rows ``a..b-1``."""
        v = self.get(p)
        lo = p * self.rows
        s, e = max(a, lo), min(b, lo + len(v))
        return s, v[s - lo : e - lo]


def find_runs(pages: Pages, a: int, b: int) -> list[tuple[int, int, int]]:
    """(start, stop, code) of the (IFU, slice) runs of rows ``a..b-1``; Disorder if codes decrease.

    Walks from run to run. The end of a run is first guessed from the CCD row
    y in ``origin``: rows per CCD row measured on the run's pages, the last y
    of the previous run as its top. One or two pages usually settle it; else
    bisection between the last page inside the run and the first page after.
    """
    P = pages.rows
    seen: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}

    def page(p: int) -> tuple[int, np.ndarray, np.ndarray]:
        if p not in seen:
            s, v = pages.part(p, a, b)
            c = v & CODE_MASK
            y = (v >> 11) & 0x1FFF
            same = c[1:] == c[:-1]
            # codes never fall; inside a run the CCD row y never falls (the pipeline goes up
            # the CCD row by row: a table sorted otherwise, e.g. column by column, shows it here)
            if c.size > 1 and (np.any(c[1:] < c[:-1]) or np.any(y[1:][same] < y[:-1][same])):
                raise Disorder
            seen[p] = (s, c, y)
        return seen[p]

    last_p = (b - 1) // P
    runs: list[tuple[int, int, int]] = []
    row = a
    top_y = 4112  # CCD rows 1..4112; then the top of the previous run
    prev_rate: float | None = None  # rows per CCD row of the previous run
    while row < b:
        p = row // P
        s, c, y = page(p)
        code = int(c[row - s])
        if runs and code <= runs[-1][2]:
            raise Disorder
        y0 = int(y[row - s])
        lo, hi = p, None  # last page known to end inside the run / first page known to start after it
        guesses = 0
        while True:
            s, c, y = page(lo)
            k = max(row - s, 0)  # the run's rows on this page start at k
            after = np.flatnonzero(c[k:] != code)
            if after.size:  # the run ends inside page lo
                if int(c[k + after[0]]) < code:
                    raise Disorder
                end = s + k + int(after[0])
                break
            if lo == last_p:
                end = b
                break
            if hi is None:
                hs, hc, _ = page(last_p)
                hi = last_p if int(hc[0]) != code else None
                if hi is None:  # the last page starts with this code: nothing but this run before it (assumed)
                    lo = last_p
                    continue
            if hi == lo + 1:
                end = hi * P
                break
            row1, y1 = s + len(c) - 1, int(y[-1])
            own = (row1 - row) / (y1 - y0) if y1 > y0 else None
            rate = own if own and (row1 - row >= P or not prev_rate) else prev_rate
            if guesses < 3 and rate:
                guess = (row1 + int((top_y - y1) * rate) + 1) // P
                guesses += 1
            else:
                guess = (lo + hi) // 2
            g = min(max(guess, lo + 1), hi - 1)
            gs, gc, gy = page(g)
            if int(gc[0]) < code:
                raise Disorder
            if int(gc[0]) == code:
                if int(gy[0]) < int(y[-1]):  # y fell between two pages of one run
                    raise Disorder
                lo = g
            else:
                hi = g
        if end < b:
            es, ec, ey = page(end // P)
            if int(ec[end - es]) < code:
                raise Disorder
        ps, pc, py = page((end - 1) // P)
        top_y = int(py[end - 1 - ps])
        prev_rate = (end - row) / (top_y - y0) if top_y - y0 >= 8 else prev_rate
        runs.append((row, end, code))
        row = end
    return runs
