"""The drizzle kernel of ``image`` against a slow, obvious drizzle: row by row, spaxel by spaxel."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pixtab.core.io.rowsource import Scratch
from pixtab.core.ops.measure.drizzle import drizzle_block


def reference(y, x, drop, v, scale=None, stat=None, dropped=None):  # type: ignore[no-untyped-def]
    """{(row, col): [rows touching, sum w, sum w v, sum w^2 stat]}: each row's square drop
    (``drop`` spaxels wide, centred on it) cut by the spaxels k - 1/2 .. k + 1/2 it overlaps."""
    out: dict[tuple[int, int], list[float]] = {}
    for i in range(len(y)):
        if dropped is not None and dropped[i]:
            continue
        axes = []
        for c in (float(y[i]), float(x[i])):
            lo, hi = c - drop / 2, c + drop / 2
            parts = []
            for k in range(math.floor(lo + 0.5), math.floor(hi + 0.5) + 1):
                overlap = min(hi, k + 0.5) - max(lo, k - 0.5)
                if overlap > 0:
                    parts.append((k, overlap / drop))
            axes.append(parts)
        for r, fy in axes[0]:
            for c, fx in axes[1]:
                w = fy * fx * (1.0 if scale is None else float(scale[i]))
                s = out.setdefault((r, c), [0, 0.0, 0.0, 0.0])
                s[0] += 1
                s[1] += w
                s[2] += w * float(v[i])
                s[3] += w * w * (0.0 if stat is None else float(stat[i]))
    return out


def kernel(y, x, drop, v, scale=None, stat=None, dropped=None):  # type: ignore[no-untyped-def]
    """drizzle_block's sums in the reference's form (spaxels with no row touching left out)."""
    sc = Scratch()
    block = drizzle_block(y, x, drop, v, scale, stat, dropped, lambda name, n, dtype=np.float32: sc.get(name, n, dtype))
    if block is None:
        return {}
    (r0, c0), sums = block.origin, block.sums
    out = {}
    for r, c in zip(*np.nonzero(sums["n"])):
        out[(int(r) + r0, int(c) + c0)] = [
            int(sums["n"][r, c]),
            float(sums["w"][r, c]),
            float(sums["wv"][r, c]),
            float(sums["var"][r, c]) if "var" in sums else 0.0,
        ]
    return out


def assert_same(got, want) -> None:  # type: ignore[no-untyped-def]
    assert got.keys() == want.keys()
    for key, (n, w, wv, var) in want.items():
        g = got[key]
        assert g[0] == n, key
        assert g[1] == pytest.approx(w, rel=1e-9, abs=1e-12), key
        assert g[2] == pytest.approx(wv, rel=1e-9, abs=1e-9), key
        assert g[3] == pytest.approx(var, rel=1e-9, abs=1e-9), key


def test_a_row_on_a_spaxel_corner_is_shared_in_quarters() -> None:
    one = np.array([0.5], np.float32)
    got = kernel(one, one, 1.0, np.array([4.0], np.float32))
    assert got == {(0, 0): [1, 0.25, 1.0, 0.0], (0, 1): [1, 0.25, 1.0, 0.0], (1, 0): [1, 0.25, 1.0, 0.0], (1, 1): [1, 0.25, 1.0, 0.0]}
    zero = np.zeros(1, np.float32)
    assert kernel(zero, zero, 0.8, np.array([4.0], np.float32)) == {(0, 0): [1, 1.0, 4.0, 0.0]}  # inside one spaxel: stays


def test_large_drops_reach_three_spaxels_per_axis() -> None:
    """A drop 1.6 spaxels wide centred on a spaxel: 0.3 / 1 / 0.3 of 1.6 per axis."""
    zero = np.zeros(1, np.float32)
    got = kernel(zero, zero, 1.6, np.ones(1, np.float32))
    assert sorted(got) == [(r, c) for r in (-1, 0, 1) for c in (-1, 0, 1)]
    assert got[(0, 0)][1] == pytest.approx((1 / 1.6) ** 2)
    assert got[(-1, 1)][1] == pytest.approx((0.3 / 1.6) ** 2)
    assert sum(s[1] for s in got.values()) == pytest.approx(1.0)  # the whole drop is shared out


# Positions on a grid of 2**-16 spaxel (a real table's float32 spaxel coordinates, up to a
# few hundred, are no finer): whether a drop reaching 1e-35 spaxel into a neighbour
# touches it is decided by rounding, differently by any two float implementations.
position = st.integers(-40 * 2**16, 40 * 2**16).map(lambda m: m / 2**16)
coords = st.lists(position, min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(
    st.data(),
    st.sampled_from([0.05, 0.4, 0.8, 1.0, 1.3, 1.6, 2.5]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_matches_the_obvious_drizzle(data, drop, scaled, with_stat, with_dropped) -> None:  # type: ignore[no-untyped-def]
    """Random rows (whole and half spaxel positions included), every option: the same sums."""
    ys = data.draw(coords)
    n = len(ys)
    xs = data.draw(st.lists(position, min_size=n, max_size=n))
    snap = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))  # some rows on spaxel edges/centres
    y = np.array([round(a * 2) / 2 if s else a for a, s in zip(ys, snap)], np.float32)
    x = np.array([round(a * 2) / 2 if s else a for a, s in zip(xs, snap)], np.float32)
    rng = np.random.default_rng(n)
    v = rng.normal(10, 5, n).astype(np.float32)
    scale = rng.uniform(0.1, 2, n) if scaled else None
    stat = rng.uniform(0.5, 3, n).astype(np.float32) if with_stat else None
    dropped = rng.random(n) < 0.3 if with_dropped else None
    assert_same(kernel(y, x, drop, v, scale, stat, dropped), reference(y, x, drop, v, scale, stat, dropped))


def test_many_rows_per_spaxel_sum_in_float64() -> None:
    """1e5 rows on a few spaxels: sums as exact as float64 sums of the rows are."""
    rng = np.random.default_rng(1)
    y = rng.uniform(-1.5, 1.5, 100_000).astype(np.float32)
    x = rng.uniform(-1.5, 1.5, 100_000).astype(np.float32)
    v = rng.normal(1e4, 1, 100_000).astype(np.float32)
    got, want = kernel(y, x, 0.8, v), reference(y, x, 0.8, v)
    assert_same(got, want)
    assert sum(s[1] for s in got.values()) == pytest.approx(100_000, rel=1e-12)
