"""The copy pass reads the 1 Ki-row blocks holding selected rows, gaps under 8 blocks
included (core/io/scan/selection.py: ChunkSelection.blocks)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pixtab.core.io.scan.selection import ChunkSelection
from pixtab.core.io.scan.tuning import COPY_BLOCK_SHIFT, COPY_GAP_BLOCKS

B = 1 << COPY_BLOCK_SHIFT
START, N = 5_000_000, 1 << 19


def spans(idx: list[int]) -> list[tuple[int, int]]:
    return ChunkSelection.of(START, START + N, np.array(sorted(set(idx)), dtype=np.int64)).blocks()


def test_blocks_and_gaps() -> None:
    assert spans([0]) == [(START, START + B)]
    assert spans([0, B - 1]) == [(START, START + B)]
    assert spans([0, COPY_GAP_BLOCKS * B]) == [(START, START + (COPY_GAP_BLOCKS + 1) * B)]  # a gap of 7 blocks is read
    far = (COPY_GAP_BLOCKS + 1) * B
    assert spans([0, far]) == [(START, START + B), (START + far, START + far + B)]  # 8 blocks are skipped
    assert spans([N - 1]) == [(START + N - B, START + N)]


def _old_rule_rows(idx: list[int]) -> int:
    """Rows the 16 Ki-row blocks read (before #25)."""
    return len({i >> 14 for i in idx}) * (1 << 14)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, N - 1), min_size=1, max_size=300))
def test_every_selected_row_is_read_and_never_more_rows_than_16k_blocks(idx: list[int]) -> None:
    got = spans(idx)
    assert all(a < b for a, b in got) and all(b1 < a2 for (_, b1), (a2, _) in zip(got, got[1:]))
    for i in idx:
        assert any(a <= START + i < b for a, b in got)
    assert sum(b - a for a, b in got) <= _old_rule_rows(idx)


def _blocks_from_indices(cs: ChunkSelection) -> list[tuple[int, int]]:
    """The same runs computed from the row numbers (the way before packed masks were read)."""
    nums = sorted({int(i) >> COPY_BLOCK_SHIFT for i in cs.indices()})
    runs: list[list[int]] = []
    for k in nums:
        if runs and k - runs[-1][1] <= COPY_GAP_BLOCKS:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    return [(cs.start + f * B, min(cs.stop, cs.start + (la + 1) * B)) for f, la in runs]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40_000), st.floats(0.05, 0.95), st.integers(0, 2**32 - 1))
def test_blocks_of_a_packed_mask_are_those_of_its_rows(n: int, density: float, seed: int) -> None:
    """Dense selections are kept as packed bits; their blocks are found on the bytes,
    including a last block cut short and a chunk whose length is no multiple of 8."""
    rng = np.random.default_rng(seed)
    keep = rng.random(n) < density
    keep[rng.integers(0, n, size=rng.integers(0, 4))] = False  # a few empty stretches
    cs = ChunkSelection.of(START, START + n, np.flatnonzero(keep))
    assert cs.blocks() == _blocks_from_indices(cs)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5000), st.sampled_from([0.0, 0.01, 0.2, 0.9, 1.0]), st.integers(0, 5000), st.integers(0, 5000),
       st.integers(0, 2**32 - 1))
def test_within_a_read_are_the_rows_of_the_read(n: int, density: float, a: int, b: int, seed: int) -> None:
    """``within(a, b)``: the selected rows of table rows a..b-1 counted from a, from each
    compact form (reads of the copy pass start anywhere in a chunk, not only on a byte)."""
    rng = np.random.default_rng(seed)
    cs = ChunkSelection.of(START, START + n, np.flatnonzero(rng.random(n) < density))
    a, b = sorted((min(a, n), min(b, n)))
    rows = cs.indices()
    expected = rows[(rows >= a) & (rows < b)] - a
    assert np.array_equal(cs.within(START + a, START + b), expected), cs.kind
