"""Other sources in a fit's aperture, found in the residuals of the target's fit, and masked.

The choice (over fitting them with the target): a neighbour's rows are left out, within
MASK_FWHM target FWHMs of its centre. The target's fit then sees only its own light and the
flat background; nothing is assumed about the neighbour's profile or spectrum.

Detection: the residuals (rows minus the fitted model) are averaged on a 0.2" grid of
offsets; from each cell the median of the cells at the same distance from the target is
subtracted (what is left of a profile the model does not quite follow is the same all
around; a neighbour is not); a cell more than NSIGMA above (sigma: its noise, or the
robust scatter of its ring when larger), farther than EXCLUDE_FWHM
target FWHMs from the target, is a neighbour, its centre the residual-weighted centre of
the cells around it. Neighbours closer than MASK_FWHM FWHMs to each other are one.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

CELL = 0.2  # arcsec
NSIGMA = 5.0
EXCLUDE_FWHM = 1.5
MASK_FWHM = 1.5


def find_neighbours(dx: np.ndarray, dy: np.ndarray, residual: np.ndarray, stat: np.ndarray,
                    centre: tuple[float, float], fwhm: float) -> list[tuple[float, float]]:
    """Offsets (arcsec) of other sources in the residuals of a fit centred on ``centre``."""
    ok = np.isfinite(residual) & np.isfinite(stat) & (stat > 0)
    dx, dy, residual, stat = dx[ok], dy[ok], residual[ok], stat[ok]
    if dx.size < 20:
        return []
    ix, iy = np.floor(dx / CELL).astype(np.int64), np.floor(dy / CELL).astype(np.int64)
    ix -= ix.min()
    iy -= iy.min()
    shape = (int(iy.max()) + 1, int(ix.max()) + 1)
    flat = iy * shape[1] + ix
    n = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)
    total = np.bincount(flat, weights=residual, minlength=n.size).reshape(shape)
    var = np.bincount(flat, weights=stat, minlength=n.size).reshape(shape)
    cx = np.bincount(flat, weights=dx, minlength=n.size).reshape(shape)
    cy = np.bincount(flat, weights=dy, minlength=n.size).reshape(shape)
    held = n > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean, err = total / n, np.sqrt(var) / n
        cx, cy = cx / n, cy / n
    dist = np.hypot(cx - centre[0], cy - centre[1])
    ring = np.floor(dist / CELL)
    excess = np.full(shape, np.nan)
    scatter = np.zeros(shape)
    for k in np.unique(ring[held]):
        same = held & (ring == k)
        excess[same] = mean[same] - np.median(mean[same])
        # what the model misses varies from cell to cell too (cells hold rows of different
        # wavelengths): the ring's own robust scatter, when larger than the noise, sets sigma
        scatter[same] = 1.4826 * np.median(np.abs(excess[same])) if same.sum() >= 5 else 0.0
    snr = np.where(held & (dist > EXCLUDE_FWHM * fwhm), excess / np.maximum(err, scatter), -np.inf)
    found: list[tuple[float, float]] = []
    for i in np.argsort(-snr, axis=None):
        if not snr.flat[i] > NSIGMA:
            break
        x, y = float(cx.flat[i]), float(cy.flat[i])
        if any(math.hypot(x - a, y - b) < MASK_FWHM * fwhm for a, b in found):
            continue
        near = held & (np.hypot(cx - x, cy - y) < 0.5 * fwhm) & (excess > 0)
        w = excess[near]
        if w.sum() > 0:
            x, y = float((cx[near] * w).sum() / w.sum()), float((cy[near] * w).sum() / w.sum())
        found.append((x, y))
    return found


def mask_rows(rows, neighbours: list[tuple[float, float]], fwhm: float):  # type: ignore[no-untyped-def]
    """``rows`` (a fit's FitRows) without those within MASK_FWHM target FWHMs of a neighbour."""
    keep = np.ones(rows.dx.size, dtype=bool)
    for x, y in neighbours:
        keep &= np.hypot(rows.dx - x, rows.dy - y) >= MASK_FWHM * fwhm
    return replace(rows, dx=rows.dx[keep], dy=rows.dy[keep], lam=rows.lam[keep], data=rows.data[keep], stat=rows.stat[keep])
