"""Sums over integer bins that grow to fit whatever arrives (one pass, no prior extent).

Used by the sky image (2-D) and the spectrum (1-D): each chunk's rows are
reduced to a small dense block over their own bounding box (``np.bincount``),
and blocks are added into a canvas that is enlarged, with some slack, when a
block falls outside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import PixtabError

#: largest canvas side, in bins (an image of 16384 x 16384 float64 sums is 2 GB)
MAX_SIDE = 16384


@dataclass
class Block:
    """Sums of some quantities over the bins ``origin .. origin + shape - 1``."""

    origin: tuple[int, ...]
    sums: dict[str, np.ndarray]

    @classmethod
    def of(
        cls, index: tuple[np.ndarray, ...], values: dict[str, np.ndarray | None], drop: np.ndarray | None = None
    ) -> "Block | None":
        """Bin rows with bin numbers ``index`` (one array per axis, integers or whole floats).

        Rows where ``drop`` is True are left out (sent to a spare bin, which is
        cheaper than copying the other rows out); the box may then be larger
        than the rows kept need (:meth:`BinCanvas.trimmed` cuts it).
        """
        if index[0].size == 0:
            return None
        lo = tuple(int(i.min()) for i in index)
        hi = tuple(int(i.max()) for i in index)
        shape = tuple(h - l + 1 for l, h in zip(lo, hi))
        if any(s > MAX_SIDE for s in shape):
            raise _too_large(shape)
        # flat = sum over axes of (i - lo) * stride, in as few passes as possible
        flat = index[0].astype(np.intp)
        offset = lo[0]
        for i, l, s in zip(index[1:], lo[1:], shape[1:]):
            flat *= s
            np.add(flat, i, out=flat, casting="unsafe")
            offset = offset * s + l
        flat -= offset
        n = int(np.prod(shape))
        if drop is not None:
            flat[drop] = n
        sums = {
            k: (np.bincount(flat, weights=v, minlength=n + 1) if v is not None else np.bincount(flat, minlength=n + 1))[:n].reshape(shape)
            for k, v in values.items()
        }
        return cls(lo, sums)


def _too_large(shape: tuple[int, ...]) -> PixtabError:
    return PixtabError(
        f"the selected rows span {' x '.join(map(str, shape))} bins (more than {MAX_SIDE} per axis): use larger bins or a smaller selection"
    )


class BinCanvas:
    """Running sums over a growing box of bins."""

    def __init__(self, ndim: int) -> None:
        self.ndim = ndim
        self.origin: tuple[int, ...] | None = None
        self.sums: dict[str, np.ndarray] = {}

    @property
    def shape(self) -> tuple[int, ...]:
        return next(iter(self.sums.values())).shape if self.sums else (0,) * self.ndim

    def add(self, block: Block | None) -> None:
        if block is None:
            return
        bshape = next(iter(block.sums.values())).shape
        if self.origin is None:
            self.origin = block.origin
            self.sums = {k: v.copy() for k, v in block.sums.items()}
            return
        lo = tuple(min(a, b) for a, b in zip(self.origin, block.origin))
        hi = tuple(max(a + s, b + t) for a, s, b, t in zip(self.origin, self.shape, block.origin, bshape))
        if lo != self.origin or hi != tuple(a + s for a, s in zip(self.origin, self.shape)):
            self._grow(lo, hi)
        assert self.origin is not None
        sl = tuple(slice(b - a, b - a + t) for a, b, t in zip(self.origin, block.origin, bshape))
        for k, v in block.sums.items():
            self.sums[k][sl] += v

    def merge(self, other: "BinCanvas") -> None:
        """Add the sums of another canvas (a worker's share of the rows)."""
        if other.origin is not None:
            self.add(Block(other.origin, other.sums))

    def _grow(self, lo: tuple[int, ...], hi: tuple[int, ...]) -> None:
        assert self.origin is not None
        old_lo, old_shape = self.origin, self.shape
        # slack: a quarter of the new size on the growing side, so growth is rare
        new_lo = tuple(l - (s // 4 if l < o else 0) for l, o, s in zip(lo, old_lo, (h - l for l, h in zip(lo, hi))))
        new_hi = tuple(
            h + ((h - l) // 4 if h > o + s else 0) for l, h, o, s in zip(lo, hi, old_lo, old_shape)
        )
        shape = tuple(h - l for l, h in zip(new_lo, new_hi))
        if any(s > MAX_SIDE for s in shape):
            tight = tuple(h - l for l, h in zip(lo, hi))
            if any(s > MAX_SIDE for s in tight):
                raise _too_large(tight)
            new_lo, shape = lo, tight
        sl = tuple(slice(o - n, o - n + s) for o, n, s in zip(old_lo, new_lo, old_shape))
        for k, v in self.sums.items():
            grown = np.zeros(shape, dtype=v.dtype)
            grown[sl] = v
            self.sums[k] = grown
        self.origin = new_lo

    def trimmed(self, key: str) -> tuple[tuple[int, ...], dict[str, np.ndarray]]:
        """(origin, sums) cut to the bounding box of the bins where ``key`` is non-zero."""
        if self.origin is None:
            return (0,) * self.ndim, {k: np.zeros((0,) * self.ndim) for k in self.sums}
        nz = self.sums[key] != 0
        box = []
        for axis in range(self.ndim):
            other = tuple(a for a in range(self.ndim) if a != axis)
            hit = np.flatnonzero(nz.any(axis=other) if other else nz)
            box.append((int(hit[0]), int(hit[-1]) + 1) if hit.size else (0, 0))
        sl = tuple(slice(a, b) for a, b in box)
        return tuple(o + a for o, (a, _) in zip(self.origin, box)), {k: v[sl] for k, v in self.sums.items()}
