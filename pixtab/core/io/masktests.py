"""Row tests of the mask criteria: a sky mask image, region shapes, a row set.

Each is a ``run(src, idx) -> bool mask over idx`` for :class:`~.selection.Selector`;
the sky ones compute the rows' RA/Dec (float64, :class:`SkyFrame`) chunk by
chunk and look them up, so memory follows the chunk, not the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..errors import InputError
from ..format.rowset import RowSet
from ..format.sky import SkyFrame
from .rowsource import RowSource

Run = Callable[[RowSource, "np.ndarray | None"], np.ndarray]


class SkyShape(Protocol):
    """What a sky criterion offers: membership of positions, and a bounding sky box."""

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray: ...

    def box(self) -> Any: ...

    def describe(self) -> str: ...


def sky_run(pt: Any, shape: SkyShape, option: str) -> Run:
    """The test of one sky shape (``--mask`` or ``--region``) on the rows of ``pt``."""
    frame = SkyFrame.of(pt)
    if frame.is_pixel:
        raise InputError(pt.path, f"pixel-unit table (positions in pixels, no sky coordinates): {option} cannot place its rows",
                         field=option.lstrip("-"))

    def run(src: RowSource, idx: np.ndarray | None) -> np.ndarray:
        ra, dec = frame.radec(src.get("xpos", idx), src.get("ypos", idx))
        return shape.contains(ra, dec)

    return run


def rows_run(pt: Any, rows: RowSet) -> Run:
    """The test of ``--rows`` (checked against the table's length first)."""
    rows.check(pt.nrows, pt.path)

    def run(src: RowSource, idx: np.ndarray | None) -> np.ndarray:
        return rows.test(src.start, src.stop, idx)

    return run
