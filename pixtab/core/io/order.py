"""Row ranges from the pipeline's row order, found by reading a few pages (no index).

A table in pipeline order (format doc section 2.7) is, within each exposure,
a sequence of runs of equal (IFU, slice) code in increasing code order, and
inside a run lambda follows the CCD row: monotonic up to the tilt of the
slice. :func:`find_runs` locates the run boundaries by bisection on the
``origin`` column; :func:`lambda_band` locates the rows of a run whose lambda
may fall in a window by interpolation search on ``lambda`` (direction
detected per run). Both read aligned 4 KiB pages of one column through
:meth:`PixTable.read`, never whole columns.

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

import threading
from collections.abc import Callable, Sequence

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

Range = tuple[float, float]


class Disorder(Exception):
    """The rows read contradict the pipeline order."""


class Pages:
    """Aligned pages of one column, read on demand and cached (thread-safe)."""

    def __init__(self, pt: PixTable, name: str) -> None:
        self.pt = pt
        self.name = name
        width = pt.columns[name].dtype.itemsize if pt.storage.packed else pt.storage.row_bytes
        self.rows = max(MIN_PAGE_ROWS, PAGE_BYTES // width)
        self.row_bytes = width
        self._cache: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self.bytes_read = 0

    def get(self, p: int) -> np.ndarray:
        v = self._cache.get(p)
        if v is None:
            a = p * self.rows
            v = self.pt.read([self.name], a, min(a + self.rows, self.pt.nrows))[self.name]
            with self._lock:
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


def find_runs_parallel(pages: Pages, a: int, b: int, pool: object, parts: int = 8) -> list[tuple[int, int, int]]:
    """:func:`find_runs` on ``parts`` pieces of rows ``a..b-1`` at once (cold disks serve many
    reads together), joined: a run cut by a piece boundary is one run; codes must still rise."""
    P = pages.rows
    cuts = {min(b, max(a, (a + (b - a) * i // parts) // P * P)) for i in range(1, parts)}
    edges = sorted({a, b} | cuts)
    runs: list[tuple[int, int, int]] = []
    for piece in pool.map(lambda s: find_runs(pages, *s), zip(edges, edges[1:])):  # type: ignore[attr-defined]
        for r in piece:
            if runs and runs[-1][2] == r[2] and runs[-1][1] == r[0]:
                runs[-1] = (runs[-1][0], r[1], r[2])
            elif runs and r[2] <= runs[-1][2]:
                raise Disorder
            else:
                runs.append(r)
    return runs


def _margin_monotonic(parts: list[tuple[int, np.ndarray]], margin: float) -> bool:
    """No value below the running maximum by more than ``margin`` (NaN ignored), in row order."""
    w = np.concatenate([v for _, v in sorted(parts, key=lambda x: x[0])])
    w = w[~np.isnan(w)]
    return bool(w.size == 0 or np.all(w >= np.maximum.accumulate(w) - margin))


class LambdaHints:
    """Where previous runs crossed each wavelength target: (direction, fraction of the run).

    Slices share nearly one wavelength solution, so the crossing sits at nearly
    the same fraction of every run: one page read per target usually settles a
    run. Shared by the threads probing runs (a race only costs a probe).
    """

    def __init__(self) -> None:
        self.direction: float | None = None
        self.where: dict[float, float] = {}

    def learn(self, d: float, target: float, frac: float) -> None:
        self.direction = d
        self.where[target] = frac


def _band_fast(
    part: Callable[[int], tuple[int, np.ndarray]],
    a: int,
    b: int,
    P: int,
    targets: tuple[float, float],
    hints: LambdaHints,
) -> tuple[float, int, int] | None:
    """(direction, start, stop) from the two pages where the hints put the crossings; None if
    either crossing is not on its page (or a second page next to it).

    A row below the low target before a row above the high target proves the
    direction, whatever the rest of the run: in the other direction lambda
    could not rise by more than the margin.
    """
    d = hints.direction
    lo_t, hi_t = targets
    if d is None or lo_t not in hints.where or hi_t not in hints.where:
        return None
    found = []
    for t, below in ((lo_t, True), (hi_t, False)):
        g = (a + int(hints.where[t] * (b - a))) // P
        g = min(max(g, a // P), (b - 1) // P)
        for _ in range(2):
            s, v = part(g)
            w = d * v
            under, over = np.flatnonzero(w < t), np.flatnonzero(w >= t)
            if under.size and over.size:
                found.append(s + int(under[-1]) + 1 if below else s + int(over[0]))
                break
            g += 1 if under.size else -1  # the crossing is on the next (previous) page
            if not a // P <= g <= (b - 1) // P:
                return None
        else:
            return None
    return d, found[0], found[1]


def lambda_band(
    pages: Pages,
    a: int,
    b: int,
    ranges: Sequence[Range],
    margin: float = LAMBDA_MARGIN,
    hints: LambdaHints | None = None,
) -> list[tuple[int, int]]:
    """Rows of run ``a..b-1`` that may hold lambda in one of ``ranges`` (the whole run if unsure)."""
    P = pages.rows
    pa, pb = a // P, (b - 1) // P
    if pb - pa + 1 <= SMALL_RUN_PAGES:
        return [(a, b)]
    probed: dict[int, tuple[int, np.ndarray]] = {}
    hints = hints or LambdaHints()
    edge = margin + EXCLUDE_SLACK

    def part(p: int) -> tuple[int, np.ndarray]:
        if p not in probed:
            s, v = pages.part(p, a, b)
            probed[p] = (s, v.astype(np.float64))
        return probed[p]

    out: list[tuple[int, int]] = []
    slow: list[Range] = []
    for lo_l, hi_l in ranges:
        fast = None
        if np.isfinite(lo_l) and np.isfinite(hi_l) and hints.direction is not None:
            d = hints.direction
            targets = (lo_l - edge, hi_l + edge) if d > 0 else (-hi_l - edge, -lo_l + edge)
            fast = _band_fast(part, a, b, P, targets, hints)
        if fast is None:
            slow.append((lo_l, hi_l))
        elif fast[1] < fast[2]:
            out.append((fast[1], fast[2]))
    d = hints.direction or 1.0
    learned: list[tuple[float, float]] = []
    if slow:
        found = _band_search(part, a, b, P, slow, edge, learned)
        if found is None:
            return [(a, b)]
        d, band = found
        out += band
    if not _margin_monotonic([(s, d * v) for s, v in probed.values()], margin):
        return [(a, b)]
    if learned and hints.direction in (None, d):  # only a run that passed its checks teaches
        for target, frac in learned:
            hints.learn(d, target, frac)
    return out


def _band_search(
    part: Callable[[int], tuple[int, np.ndarray]],
    a: int,
    b: int,
    P: int,
    ranges: Sequence[Range],
    edge: float,
    learned: list[tuple[float, float]],
) -> tuple[float, list[tuple[int, int]]] | None:
    """(direction, band) by interpolation search from the run's first and last pages (None:
    unsure); ``learned`` gets (target, fraction of the run) of the crossings found."""
    pa, pb = a // P, (b - 1) // P

    def median(p: int) -> float:
        """A typical value of page p (its middle row's, or the median when that is NaN)."""
        v = part(p)[1]
        m = float(v[len(v) // 2]) if len(v) else float("nan")
        if m != m:
            v = v[~np.isnan(v)]
            m = float(np.median(v)) if v.size else float("nan")
        return d * m

    d = 1.0
    first, last = median(pa), median(pb)
    if not (np.isfinite(first) and np.isfinite(last)) or first == last:
        return None
    d = 1.0 if last > first else -1.0
    first, last = -first if d < 0 else first, -last if d < 0 else last

    def crossing(target: float) -> list[int]:
        """Pages around the first place where lambda (in direction d) reaches ``target``."""
        lo, hi, wl, wh = pa, pb, first, last
        if wl >= target:
            return [pa]
        if wh < target:
            return [pb]
        step = 0
        while hi - lo > 1:
            if step % 3 == 2:  # every third probe bisects: bounded even where lambda is far from linear
                g = (lo + hi) // 2
            else:  # the page whose typical value should be the target (lambda ~ linear in row)
                g = lo + round((target - wl) / (wh - wl) * (hi - lo))
                g = min(max(g, lo + 1), hi - 1)
            step += 1
            wg = median(g)
            if not np.isfinite(wg):
                raise Disorder
            v = part(g)[1]
            lo_v, hi_v = (v[0], v[-1]) if d > 0 else (-v[0], -v[-1])
            if lo_v < target <= hi_v:  # the crossing is on this page
                return [g]
            if wg < target:
                lo, wl = g, wg
            else:
                hi, wh = g, wg
        return [lo, hi]

    out: list[tuple[int, int]] = []
    try:
        for lo_l, hi_l in ranges:
            lo_w, hi_w = (lo_l, hi_l) if d > 0 else (-hi_l, -lo_l)
            start, stop = a, b
            if np.isfinite(lo_w):
                for p in crossing(lo_w - edge):
                    s, v = part(p)
                    below = np.flatnonzero(d * v < lo_w - edge)
                    if below.size:
                        start = max(start, s + int(below[-1]) + 1)
                if a < start < b:
                    learned.append((lo_w - edge, (start - a) / (b - a)))
            if np.isfinite(hi_w):
                for p in crossing(hi_w + edge):
                    s, v = part(p)
                    above = np.flatnonzero(d * v >= hi_w + edge)
                    if above.size:
                        stop = min(stop, s + int(above[0]))
                if a < stop < b:
                    learned.append((hi_w + edge, (stop - a) / (b - a)))
            if start < stop:
                out.append((start, stop))
    except Disorder:
        return None
    return d, out
