"""A row-filter expression bound to one table: which columns it reads, and its mask on rows.

The expression (:mod:`pixtab.core.format.expr`) only names things; here the
names get their values: table columns as read, fields decoded from ``origin``
by :class:`~pixtab.core.decode.OriginDecoder` (x with the row's own
exposure's XOFFSET), and ra/dec from :class:`~pixtab.core.sky.SkyFrame`.
Whatever the table cannot provide is an :class:`InputError` before any row
is read.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..decode import OriginDecoder
from ..errors import InputError
from ..format.expr import COLUMNS, DECODED, SKY, Expression
from ..sky import SkyFrame
from ..table import PixTable


class RowFilter:
    """``expression`` on the rows of ``pt``; decoded pixels and slices as the options say."""

    def __init__(
        self, pt: PixTable, expression: Expression, zero_based: bool = False, slice_numbering: str = "ccd"
    ) -> None:
        self.expression = expression
        names = expression.names
        missing = sorted(n for n in names if n in COLUMNS and n not in pt.columns)
        if missing:
            have = ", ".join(c for c in pt.columns if c in COLUMNS)
            raise InputError(
                pt.path, f"the expression uses {', '.join(missing)}, which this table does not have (columns: {have})"
            )
        self.frame: SkyFrame | None = None
        if names & set(SKY):
            self.frame = SkyFrame.of(pt)
            if self.frame.is_pixel:
                raise InputError(pt.path, "pixel-unit table (positions in pixels): ra and dec are undefined")
        self.decoded = [n for n in DECODED if n in names]
        self.decoder = OriginDecoder(pt, zero_based, slice_numbering) if self.decoded else None
        cols = [n for n in COLUMNS if n in names]
        if self.decoded:
            cols.append("origin")
        if self.frame is not None:
            cols += ["xpos", "ypos"]
        #: table columns the filter reads
        self.columns: tuple[str, ...] = tuple(dict.fromkeys(cols))

    def mask(self, get: Callable[[str], np.ndarray], rows: Callable[[], np.ndarray], n: int) -> np.ndarray:
        """Bool mask of ``n`` rows: ``get(column)`` their values, ``rows()`` their table row indices."""
        derived: dict[str, np.ndarray] = {}
        if self.decoder is not None:
            derived.update(self.decoder.decode(get("origin"), rows=rows(), fields=self.decoded))
        if self.frame is not None:
            derived["ra"], derived["dec"] = self.frame.radec(get("xpos"), get("ypos"))
        return self.expression.evaluate(lambda name: derived[name] if name in derived else get(name), n)
