"""A per-block index of a pixel table: what each block of rows can hold.

For every block of ``block`` consecutive rows (the last one may be short) the
index keeps the NaN-aware minimum and maximum of xpos, ypos and lambda (NaN
when every value of the block is NaN), and of two fields of ``origin``: the
11-bit (IFU, slice) code and the CCD row y. It also keeps the runs of equal
(IFU, slice) code (first row and code of each run) when there are few enough
of them (a table in pipeline order has one per exposure, IFU and slice);
exposure boundaries come from the EXPn FIRST/LAST keywords.

The bounds are exact: a block whose bounds rule out a criterion holds no row
meeting it, whatever the row order. For a 3.2e8-row exposure and 2048-row
blocks the index is about 5 MB (one ``.npz``; loads in a few ms). Storage and staleness checks live in
:mod:`pixtab.core.io.index_store`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..format import origin as org

#: rows per block. Measured on an 8e7-row table (benchmarks/index.py, /tmp/blocks-style sweep):
#: 1/2/4/8/16 Ki rows give 2.5/1.3/0.6/0.3/0.2 MB indexes loading in 2.9/1.3/1.0/0.9/0.9 ms,
#: and a 2" + 100 A cut scans 0.16/0.25/0.44/0.83/1.6 M rows. 2 Ki rows (27 CCD rows of a
#: slice in a full exposure, ~30 A) keeps the scan near the cut for a ~5 MB index at 3.2e8 rows.
BLOCK_ROWS = 1 << 11
#: rows read per column and per chunk while building (large reads: few seeks between columns)
BUILD_CHUNK_ROWS = 1 << 21
#: columns the index is built from
INDEX_COLUMNS = ("xpos", "ypos", "lambda", "origin")
#: float bounds kept per block
FLOAT_FIELDS = ("xpos", "ypos", "lambda")
#: integer bounds kept per block: (IFU, slice) code and CCD row y of ``origin``
INT_FIELDS = ("code", "y")
#: keep the run list only when it is at most this long (else block bounds only)
MAX_RUNS = 1 << 16
CODE_MASK = (1 << 11) - 1  # the IFU and slice bits of origin


def origin_fields(origin: np.ndarray, out: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The (IFU, slice) code and CCD row y of each origin value (int32 like origin), into
    ``out`` buffers when given (reused buffers spare the page faults of fresh ones)."""
    code, y = out if out is not None else (np.empty_like(origin), np.empty_like(origin))
    np.bitwise_and(origin, CODE_MASK, out=code)
    np.right_shift(origin, org.Y_SHIFT, out=y)
    np.bitwise_and(y, org.Y_MASK, out=y)
    return {"code": code, "y": y}


@dataclass
class TableIndex:
    """Block bounds of one table. ``lo[name][i]``/``hi[name][i]``: bounds of block i."""

    nrows: int
    block: int
    lo: dict[str, np.ndarray]
    hi: dict[str, np.ndarray]
    run_starts: np.ndarray | None = None  # int64, first row of each (IFU, slice) run
    run_codes: np.ndarray | None = None  # int16, its code
    identity: dict[str, object] = field(default_factory=dict)

    @property
    def nblocks(self) -> int:
        return -(-self.nrows // self.block)

    def block_rows(self, mask: np.ndarray) -> list[tuple[int, int]]:
        """Row ranges (merged) of the blocks where ``mask`` is True."""
        return [(a * self.block, min(b * self.block, self.nrows)) for a, b in true_runs(mask)]

    def check(self) -> str | None:
        """Why the arrays are inconsistent (None when they are fine)."""
        n = self.nblocks
        if self.block < 1 or self.nrows < 0:
            return "bad block size or row count"
        for name in FLOAT_FIELDS + INT_FIELDS:
            for side in (self.lo, self.hi):
                if name not in side or side[name].shape != (n,):
                    return f"bounds of {name} missing or of the wrong length"
        if (self.run_starts is None) != (self.run_codes is None):
            return "incomplete run list"
        if self.run_starts is not None:
            s = self.run_starts
            if s.shape != self.run_codes.shape or (s.size and (s[0] != 0 or s[-1] >= max(self.nrows, 1))):  # type: ignore[union-attr]
                return "bad run list"
            if s.size > 1 and not np.all(np.diff(s) > 0):
                return "run list not increasing"
        return None


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges where the boolean ``mask`` is True."""
    if mask.size == 0:
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


class IndexBuilder:
    """Accumulates block bounds from row chunks that start on block boundaries.

    :meth:`add` may be called from several threads for different chunks, in
    any order; every chunk but the last must be a whole number of blocks.
    """

    def __init__(self, nrows: int, block: int = BLOCK_ROWS) -> None:
        self.nrows = nrows
        self.block = block
        n = -(-nrows // block)
        self.lo = {f: np.full(n, np.nan, np.float32) for f in FLOAT_FIELDS}
        self.hi = {f: np.full(n, np.nan, np.float32) for f in FLOAT_FIELDS}
        self.lo.update({f: np.zeros(n, np.int16) for f in INT_FIELDS})
        self.hi.update({f: np.zeros(n, np.int16) for f in INT_FIELDS})
        self._runs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._seen = np.zeros(n, dtype=bool)
        self._lock = threading.Lock()
        self._local = threading.local()  # per-thread work buffers

    def add(self, start: int, arrays: dict[str, np.ndarray]) -> None:
        """Bounds of the blocks of rows ``start..start+len-1`` (xpos, ypos, lambda, origin)."""
        if start % self.block:
            raise ValueError(f"index chunk starts at row {start}, not on a block boundary")
        n = len(arrays["origin"])
        b0 = start // self.block
        full, tail = divmod(n, self.block)
        values = {f: arrays[f] for f in FLOAT_FIELDS}
        bufs = getattr(self._local, "bufs", None)
        if bufs is None or bufs[0].size < n:
            bufs = self._local.bufs = (np.empty(n, np.int32), np.empty(n, np.int32))
        values.update(origin_fields(arrays["origin"].astype(np.int32, copy=False), (bufs[0][:n], bufs[1][:n])))
        for name, v in values.items():
            lo, hi = (np.fmin, np.fmax) if name in FLOAT_FIELDS else (np.minimum, np.maximum)
            if full:
                blocks = v[: full * self.block].reshape(full, self.block)
                self.lo[name][b0 : b0 + full] = lo.reduce(blocks, axis=1)
                self.hi[name][b0 : b0 + full] = hi.reduce(blocks, axis=1)
            if tail:
                self.lo[name][b0 + full] = lo.reduce(v[full * self.block :])
                self.hi[name][b0 + full] = hi.reduce(v[full * self.block :])
        code = values["code"]
        cut = np.flatnonzero(code[1:] != code[:-1]) + 1 if n > 1 else np.empty(0, np.int64)
        starts = np.concatenate(([0], cut)).astype(np.int64) + start if n else np.empty(0, np.int64)
        with self._lock:
            self._runs[start] = (starts, (code[starts - start] if n else code[:0]).astype(np.int16))
            self._seen[b0 : b0 + full + (1 if tail else 0)] = True

    def finish(self, identity: dict[str, object] | None = None) -> TableIndex:
        if not self._seen.all():
            raise ValueError("index incomplete: some blocks were never added")
        run_starts: np.ndarray | None = None
        run_codes: np.ndarray | None = None
        parts = [self._runs[k] for k in sorted(self._runs)]
        total = sum(p[0].size for p in parts)
        if total <= MAX_RUNS * 2:
            s = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
            c = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.int16)
            keep = np.concatenate(([True], c[1:] != c[:-1])) if c.size else np.empty(0, bool)
            if int(keep.sum()) <= MAX_RUNS:
                run_starts, run_codes = s[keep], c[keep]
        return TableIndex(self.nrows, self.block, self.lo, self.hi, run_starts, run_codes, dict(identity or {}))
