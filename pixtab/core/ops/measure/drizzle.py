"""The drizzle kernel of the sky image, chunk by chunk: each row's drop over the spaxels.

A row at spaxel coordinate ``c`` (per axis; spaxel ``k`` spans k - 1/2 .. k + 1/2) drops
a square ``d`` spaxels wide centred on it. Per axis the drop starts in spaxel
``b = floor(c - d/2 + 1/2)``, at ``t`` (0 <= t < 1) from that spaxel's lower edge, and
spaxel ``b + k`` holds the fraction

    f_k = clip((min(t + d, k + 1) - max(t, k)) / d, 0, 1),   k = 0 .. K-1, K = ceil(d) + 1

of its width; the fraction of the drop a spaxel holds is the product of the two axes'.
So every row has one *base* spaxel (b_y, b_x) and K x K *corners* at fixed offsets
from it: each corner's sums are scatters (``np.add.at``) of the rows onto their base
spaxels, shifted by the corner's offset when added into the chunk's block. Weight and
weighted value are two float64 scatters (``np.add.at`` has a fast loop for float64,
about 1 ns a row, but none for complex numbers, whose one scatter costs 3.5 ns a row).
The rows touching each spaxel are counted with one integer count per (base spaxel, code), where the code says
how many more spaxels the drop reaches on each axis.

Arithmetic per axis is float64 from the float32 spaxel coordinates; sums are float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .canvas import MAX_SIDE, Block, _too_large

Buf = Callable[[str, int, type], np.ndarray]


class Axis:
    """One axis of the rows' drops: base spaxel and the fraction of each of K spaxels."""

    def __init__(self, c: np.ndarray, drop: float, name: str, buf: Buf) -> None:
        n = c.size
        self.k = math.ceil(drop) + 1
        u = buf(name + " u", n, np.float64)
        np.add(c, 0.5 - drop / 2, out=u, dtype=np.float64)  # the drop's lower edge + 1/2
        base = buf(name + " base", n, np.float64)
        np.floor(u, out=base)
        t = np.subtract(u, base, out=u)  # 0 <= t <= 1 (1 only by rounding: kept below)
        np.minimum(t, 1.0 - 2.0**-53, out=t)
        self.base = base
        self.parts: list[np.ndarray] = []
        for k in range(self.k):
            f = buf(f"{name} f{k}", n, np.float64)
            if k == 0:  # min(t + d, 1) - t = min(d, 1 - t)
                np.subtract(1.0, t, out=f)
                np.minimum(f, drop, out=f)
            else:  # clip(min(t + d, k + 1) - k, 0, d)
                np.add(t, drop - k, out=f)
                np.clip(f, 0.0, 1.0, out=f)
            f *= 1.0 / drop
            self.parts.append(f)


def drizzle_block(
    y: np.ndarray,
    x: np.ndarray,
    drop: float,
    v: np.ndarray,
    scale: np.ndarray | None,
    stat: np.ndarray | None,
    dropped: np.ndarray | None,
    buf: Buf,
) -> Block | None:
    """Sums of one chunk's rows at spaxel coordinates ``y``, ``x`` (float32) with drops
    ``drop`` spaxels wide (> 0): ``n`` rows touching, ``w`` sum of weights (the fraction
    of the drop, times ``scale`` per row if given), ``wv`` sum of weight x ``v``, and with
    ``stat`` ``var`` sum of weight^2 x stat. Rows where ``dropped`` is True are left out."""
    n = y.size
    if n == 0:
        return None
    ay, ax = Axis(y, drop, "y", buf), Axis(x, drop, "x", buf)
    k = ay.k
    y0, y1 = float(ay.base.min()), float(ay.base.max())
    x0, x1 = float(ax.base.min()), float(ax.base.max())
    h, w = int(y1 - y0) + 1, int(x1 - x0) + 1
    shape = (h + k - 1, w + k - 1)
    if max(shape) > MAX_SIDE:
        raise _too_large(shape)
    size = h * w  # base spaxels; bin ``size`` takes the dropped rows
    flat_f = buf("flat f", n, np.float64)
    np.multiply(ay.base, w, out=flat_f)
    flat_f += ax.base
    flat_f -= y0 * w + x0
    flat = buf("flat", n, np.intp)
    flat[:] = flat_f
    if dropped is not None:
        flat[dropped] = size
    # Rows touching: count (base, reach y, reach x), where a reach is how many spaxels past
    # the base the drop gets to (its parts after the first with a share); corner (a, b)
    # counts the rows with reaches >= (a, b).
    idx = buf("code idx", n, np.intp)
    np.multiply(flat, k, out=idx)
    for f in ay.parts[1:]:
        idx += f > 0
    idx *= k
    for f in ax.parts[1:]:
        idx += f > 0
    counts = np.bincount(idx, minlength=(size + 1) * k * k)[: size * k * k].reshape(h, w, k, k)
    counts = counts[:, :, ::-1, ::-1].cumsum(axis=2).cumsum(axis=3)[:, :, ::-1, ::-1]
    sums = {q: np.zeros(shape) for q in ("n", "w", "wv")}
    if stat is not None:
        sums["var"] = np.zeros(shape)
    wt, wvt = buf("weight", n, np.float64), buf("weighted value", n, np.float64)
    acc = np.empty(size + 1)
    for a, fy in enumerate(ay.parts):
        if scale is not None:  # fy * scale, shared by the corners of this row of offsets
            fys = buf("fy scaled", n, np.float64)
            np.multiply(fy, scale, out=fys)
            fy = fys
        for b, fx in enumerate(ax.parts):
            sl = (slice(a, a + h), slice(b, b + w))
            sums["n"][sl] += counts[:, :, a, b]
            np.multiply(fy, fx, out=wt)
            np.multiply(wt, v, out=wvt)
            for q, part in (("w", wt), ("wv", wvt)):
                acc[:] = 0
                np.add.at(acc, flat, part)
                sums[q][sl] += acc[:size].reshape(h, w)
            if stat is not None:
                var = buf("var", n, np.float64)
                np.multiply(wt, wt, out=var)
                var *= stat
                acc[:] = 0
                np.add.at(acc, flat, var)
                sums["var"][sl] += acc[:size].reshape(h, w)
    return Block((int(y0), int(x0)), sums)
