"""The wavelength band of one (IFU, slice) run, found by reading a few pages of ``lambda``.

Inside a run in pipeline order lambda follows the CCD row, monotonic up to the
tilt of the slice (``LAMBDA_MARGIN``). :func:`lambda_band` finds the rows
that may hold lambda in a window: once a few runs have been searched
(interpolation from the run's first and last pages, :func:`_band_search`),
:class:`LambdaHints` tell where the window's edges sit in a run (slices share
nearly one wavelength solution), and usually one page per edge settles the
next runs (:func:`_band_fast`). Every page read is checked to be
margin-monotonic in the run's direction; a run that fails is read whole. What
this can and cannot guarantee is spelled out in :mod:`pixtab.core.io.order`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from . import order
from .order import EXCLUDE_SLACK, LAMBDA_MARGIN, Disorder, Pages

Range = tuple[float, float]


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
    if pb - pa + 1 <= order.SMALL_RUN_PAGES:
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
    directions: set[float] = set()  # every direction a band was computed in must hold
    for lo_l, hi_l in ranges:
        fast = None
        if np.isfinite(lo_l) and np.isfinite(hi_l) and hints.direction is not None:
            d = hints.direction
            targets = (lo_l - edge, hi_l + edge) if d > 0 else (-hi_l - edge, -lo_l + edge)
            fast = _band_fast(part, a, b, P, targets, hints)
        if fast is None:
            slow.append((lo_l, hi_l))
        else:
            directions.add(fast[0])
            if fast[1] < fast[2]:
                out.append((fast[1], fast[2]))
    d = hints.direction or 1.0
    learned: list[tuple[float, float]] = []
    if slow:
        found = _band_search(part, a, b, P, slow, edge, learned)
        if found is None:
            return [(a, b)]
        d, band = found
        directions.add(d)
        out += band
    if len(directions) > 1 or not _margin_monotonic([(s, d * v) for s, v in probed.values()], margin):
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
