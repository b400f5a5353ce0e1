"""Median and robust spread of values per integer key, streamed, in two passes.

Holding every row to take a median is what bounded memory forbids, so each key
gets histograms instead:

1. a coarse histogram on a log-like axis, t = asinh(v / s), 512 bins over
   |v| < 1e11 s (s: a scale from the first chunk), about 10 % wide in v: the
   median and the 16-84 % spread to that precision;
2. a fine histogram of :data:`FINE` bins on a window of the median +- 6 spreads
   (widened by the coarse bins' width), with the counts below and above it;
   repeated (up to 4 fine passes in all) on a window of +- 6 spreads where the
   bins were still wider than 0.05 spread (a level far above the spread: each
   pass narrows the window about 25 times; a sky of 300 +- 17 takes two).

The median (and the 15.87/84.13 % quantiles whose half distance is the spread,
a Gaussian's sigma) are read off the fine histogram by linear interpolation in
the bin where the count crosses: exact to a fraction of a bin, at most 0.05
spread (usually 12 / 400 = 0.03), well below a median's own noise (1.25 spread / sqrt(n)) unless a
key holds over 1700 rows with very peaked values. A quantile outside the window
(never for sane data) falls back on the coarse estimate and is counted in
``fallbacks``. Memory: 512 + 402 counts per key; keys may grow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

COARSE, FINE = 512, 400
#: a fine pass is repeated on a narrower window while its bins are wider than this many spreads
RESOLUTION, MAX_FINE_PASSES = 0.05, 4
KEY_BLOCK = 2048  # keys per block of the quantile search
T_MAX = float(np.arcsinh(1e11))
QUANTILES = (0.5, 0.15865525393145707, 0.8413447460685429)


class KeyedCounts:
    """Counts [key, bin] (uint32: up to 4e9 rows per bin) over a key range that grows as keys arrive."""

    def __init__(self, nbins: int) -> None:
        self.nbins, self.k0, self.counts = nbins, 0, np.zeros((0, nbins), dtype=np.uint32)

    def add(self, keys: np.ndarray, bins: np.ndarray) -> None:
        if keys.size == 0:
            return
        lo, hi = int(keys.min()), int(keys.max()) + 1
        if self.counts.shape[0] == 0:
            self.k0, self.counts = lo, np.zeros((hi - lo, self.nbins), dtype=np.uint32)
        elif lo < self.k0 or hi > self.k0 + self.counts.shape[0]:
            nlo, nhi = min(lo, self.k0), max(hi, self.k0 + self.counts.shape[0])
            grown = np.zeros((nhi - nlo, self.nbins), dtype=np.uint32)
            grown[self.k0 - nlo : self.k0 - nlo + self.counts.shape[0]] = self.counts
            self.k0, self.counts = nlo, grown
        flat = (keys - self.k0) * self.nbins + bins
        if flat.size * 8 > self.counts.size:  # dense: one bincount beats scattered adds
            self.counts.reshape(-1)[:] += np.bincount(flat, minlength=self.counts.size).astype(np.uint32)
        else:
            np.add.at(self.counts.reshape(-1), flat, np.uint32(1))


def _fine_pass(passes: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]], k0: int, nk: int, lo: np.ndarray,
               width: np.ndarray) -> np.ndarray:
    """Counts [key, 1 + bin] on the windows lo + width * [0, FINE), with below (0) and above (FINE + 1)."""
    fine = KeyedCounts(FINE + 2)
    fine.k0, fine.counts = k0, np.zeros((nk, FINE + 2), dtype=np.uint32)
    for keys, values in passes():
        k = keys - k0
        b = np.floor((values - lo[k]) / width[k])
        fine.add(keys, np.clip(b, -1, FINE).astype(np.int64) + 1)
    return fine.counts


@dataclass
class KeyStats:
    """Per key (``keys``): rows, median, spread (sigma-like), and how many fell back."""

    keys: np.ndarray
    n: np.ndarray
    median: np.ndarray
    spread: np.ndarray
    fallbacks: int


def _quantile(counts: np.ndarray, below: np.ndarray, above: np.ndarray, q: float, lo: np.ndarray,
              width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The q quantile of histograms (rows: keys) with ``below`` rows under bin 0 and ``above``
    rows over the last bin, of edges lo + width * i; also whether it is outside the window.
    Keys are taken a block at a time (the cumulative sums are int64 copies)."""
    parts = [_quantile_block(counts[a : a + KEY_BLOCK], below[a : a + KEY_BLOCK], above[a : a + KEY_BLOCK], q,
                             lo[a : a + KEY_BLOCK], width[a : a + KEY_BLOCK]) for a in range(0, counts.shape[0], KEY_BLOCK)]
    if not parts:
        return np.zeros(0), np.zeros(0, dtype=bool)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _quantile_block(counts: np.ndarray, below: np.ndarray, above: np.ndarray, q: float, lo: np.ndarray,
                    width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts, below = counts.astype(np.int64), below.astype(np.int64)
    n = counts.sum(axis=1) + below + above
    target = q * n
    cum = np.cumsum(counts, axis=1) + below[:, None]
    i = np.minimum((cum < target[:, None]).sum(axis=1), counts.shape[1] - 1)
    before = np.where(i > 0, np.take_along_axis(cum, np.maximum(i - 1, 0)[:, None], 1)[:, 0], below)
    inbin = np.take_along_axis(counts, i[:, None], 1)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.clip(np.where(inbin > 0, (target - before) / inbin, 0.5), 0.0, 1.0)
    outside = (target <= below) | (target > cum[:, -1])
    return lo + width * (i + frac), outside


def keyed_stats(passes: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]) -> KeyStats:
    """Median and spread per key of the (keys, values) pairs ``passes()`` streams (called twice)."""
    coarse = KeyedCounts(COARSE)
    scale = 0.0
    for keys, values in passes():
        if scale == 0.0 and values.size:
            scale = max(float(np.median(np.abs(values))) * 1e-4, 1e-30)
        t = np.arcsinh(values / scale if scale else values)
        coarse.add(keys, np.clip(((t + T_MAX) * (COARSE / (2 * T_MAX))).astype(np.int64), 0, COARSE - 1))
    counts = coarse.counts
    nk = counts.shape[0]
    if nk == 0:
        z = np.zeros(0)
        return KeyStats(z.astype(np.int64), z.astype(np.int64), z, z, 0)
    dt = 2 * T_MAX / COARSE
    t_lo, zeros = -T_MAX, np.zeros(nk, dtype=np.int64)
    qs = [_quantile(counts, zeros, zeros, q, np.full(nk, t_lo), np.full(nk, dt))[0] for q in QUANTILES]
    med, q16, q84 = (np.sinh(q) * scale for q in qs)
    coarse_width = np.abs(med) * (np.exp(dt) - 1) + scale * 2 * dt
    half = 6 * np.maximum((q84 - q16) / 2, coarse_width) + 2 * coarse_width
    fallbacks = 0
    for _ in range(MAX_FINE_PASSES):
        lo, width = med - half, 2 * half / FINE
        fine = _fine_pass(passes, coarse.k0, nk, lo, width)
        inner, below, above = fine[:, 1:-1], fine[:, 0], fine[:, -1].astype(np.int64)
        fq = [_quantile(inner, below, above, q, lo, width) for q in QUANTILES]
        med, q16, q84 = (np.where(bad, old, new) for (new, bad), old in zip(fq, (med, q16, q84)))
        fallbacks = int(sum(int(bad[counts.sum(axis=1) > 0].sum()) for _, bad in fq))
        spread = np.maximum((q84 - q16) / 2, width)
        if not np.any(width > RESOLUTION * spread) or fallbacks:
            break  # fine enough everywhere (or a window missed: a narrower one would not help)
        half = np.where(width > RESOLUTION * spread, 6 * spread + 2 * width, half)
    out = [med, q16, q84]
    n = counts.sum(axis=1, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        median = np.where(n > 0, out[0], np.nan)
        spread = np.where(n > 0, (out[2] - out[1]) / 2, np.nan)
    return KeyStats(np.arange(coarse.k0, coarse.k0 + nk), n, median, spread, fallbacks)
