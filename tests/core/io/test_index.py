"""The table index (``core.io.index``): block bounds and runs, against numpy on every row."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pixtab.core.io.index import IndexBuilder, true_runs


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3000),
    block=st.sampled_from([1, 7, 64, 512]),
    chunk_blocks=st.integers(1, 5),
    nan_rate=st.sampled_from([0.0, 0.1, 1.0]),
    seed=st.integers(0, 10_000),
)
def test_block_bounds_are_nan_aware_min_max(n: int, block: int, chunk_blocks: int, nan_rate: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cols = {name: rng.normal(size=n).astype(np.float32) for name in ("xpos", "ypos", "lambda")}
    for v in cols.values():
        v[rng.random(n) < nan_rate] = np.nan
    codes = np.sort(rng.integers(65, 65 + 8, n))
    y = rng.integers(1, 4113, n)
    cols["origin"] = (y << 11 | codes).astype(np.int32)
    b = IndexBuilder(n, block)
    step = block * chunk_blocks
    starts = list(range(0, n, step))
    for a in reversed(starts):  # any order
        b.add(a, {k: v[a : a + step] for k, v in cols.items()})
    index = b.finish()
    assert index.check() is None
    for i in range(index.nblocks):
        rows = slice(i * block, (i + 1) * block)
        for name in ("xpos", "ypos", "lambda"):
            v = cols[name][rows]
            if np.isnan(v).all():
                assert np.isnan(index.lo[name][i]) and np.isnan(index.hi[name][i])
            else:
                assert index.lo[name][i] == np.nanmin(v) and index.hi[name][i] == np.nanmax(v)
        assert index.lo["code"][i] == codes[rows].min() and index.hi["code"][i] == codes[rows].max()
        assert index.lo["y"][i] == y[rows].min() and index.hi["y"][i] == y[rows].max()
    want = np.concatenate(([0], np.flatnonzero(np.diff(codes)) + 1))
    assert np.array_equal(index.run_starts, want)
    assert np.array_equal(index.run_codes, codes[want])


def test_true_runs() -> None:
    assert true_runs(np.array([1, 1, 0, 1, 0, 0, 1], bool)) == [(0, 2), (3, 4), (6, 7)]
    assert true_runs(np.zeros(0, bool)) == []
