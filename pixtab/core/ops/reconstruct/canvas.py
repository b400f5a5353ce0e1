"""One IFU's image being filled (:class:`DetectorCanvas`), with an exposure tag per pixel when
several exposures may meet in it (a clash is a usage error: choose one exposure)."""

from __future__ import annotations

import math

import numpy as np

from ...errors import CriteriaError
from .request import DetectorImage


def image_dtype(column_dtype: np.dtype, fill: str) -> np.dtype:
    """Image type: the column's own type, or float64 for integers filled with NaN."""
    if fill == "nan" and column_dtype.kind != "f":
        return np.dtype(np.float64)
    return np.dtype(column_dtype)


def flat_index(x: np.ndarray, y: np.ndarray, bounds: tuple[int, int, int, int]) -> np.ndarray:
    """Index into the flattened image of ``bounds`` (x0, x1, y0, y1) of 0-based pixels inside them."""
    x0, x1, y0, _ = bounds
    flat = y - y0
    flat *= x1 - x0
    flat += x
    flat -= x0
    return flat


class Clash(Exception):
    """Two exposures wrote one pixel (carries the usage error to raise)."""

    def __init__(self, error: CriteriaError) -> None:
        super().__init__(str(error))
        self.error = error


class DetectorCanvas:
    """One IFU's image being filled, with an optional exposure tag per pixel."""

    def __init__(
        self,
        ifu: int,
        bounds: tuple[int, int, int, int],
        dtype: np.dtype,
        fill: float,
        ntags: int,
        spare: np.ndarray | None = None,
    ) -> None:
        """``spare``: memory to reuse, of ``dtype`` and at least the image's size."""
        self.ifu = ifu
        self.bounds = bounds
        self.x0, x1, self.y0, y1 = bounds
        shape = (y1 - self.y0, x1 - self.x0)
        n = shape[0] * shape[1]
        if spare is not None:  # a finished image's memory: no fresh pages to fault in
            self.buffer = spare
            self.buffer[:n].fill(fill)
        else:
            self.buffer = np.full(n, fill, dtype=dtype)
        self.image = self.buffer[:n].reshape(shape)
        self.nx = x1 - self.x0
        self.fill = fill
        # Which exposure wrote each pixel, only when several may meet here.
        self.tagged = ntags > 1
        tag_type = np.uint8 if ntags < 256 else np.uint16
        self.written = np.zeros(self.image.shape if self.tagged else (0, 0), dtype=tag_type)
        self.nrows = 0
        self.exps: set[int] = set()

    def put(
        self, x: np.ndarray, y: np.ndarray, values: np.ndarray, exp: int, tags: dict[int, int], base: int
    ) -> None:
        """Write rows of exposure ``exp`` (0-based pixels inside the bounds).

        Raises :class:`Clash` for a pixel another exposure wrote (nothing is written then).
        """
        self.put_flat(flat_index(x, y, self.bounds), values, exp, tags, base)

    def put_flat(self, flat: np.ndarray, values: np.ndarray, exp: int, tags: dict[int, int], base: int) -> None:
        """:meth:`put` with the pixels as :func:`flat_index` gives them."""
        tag = tags.get(exp, 1)
        if self.tagged:
            seen = self.written.reshape(-1)[flat]
            clash = (seen != 0) & (seen != tag)
            if clash.any():
                k = int(np.argmax(clash))
                y, x = divmod(int(flat[k]), self.nx)
                other = next(e for e, t in tags.items() if t == seen[k])
                raise Clash(
                    CriteriaError(
                        f"IFU {self.ifu}: exposures {other} and {exp} both have rows on detector pixel "
                        f"x={x + self.x0 + base}, y={y + self.y0 + base}",
                        field="one_exp",
                    )
                )
        self.image.reshape(-1)[flat] = values  # the last row written wins
        if self.tagged:
            self.written.reshape(-1)[flat] = tag
        self.nrows += len(flat)
        self.exps.add(exp)

    def result(self, base: int) -> DetectorImage:
        """What the image holds so far (``npix`` not counted yet); its pixels are :attr:`image`."""
        return DetectorImage(
            self.ifu, sorted(self.exps), self.x0 + base, self.y0 + base, self.image.shape, self.nrows  # type: ignore[arg-type]
        )


def filled(block: np.ndarray, fill: float) -> int:
    """Pixels of ``block`` not holding the fill value."""
    if isinstance(fill, float) and math.isnan(fill):
        return int(block.size - np.count_nonzero(np.isnan(block)))
    return int(np.count_nonzero(block != fill))

