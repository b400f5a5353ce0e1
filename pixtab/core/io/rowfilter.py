"""A row-filter expression bound to one table: which columns it reads, and its mask on rows.

The expression (:mod:`pixtab.core.format.expr`) only names things; here the
names get their values: table columns as read, fields decoded from ``origin``
by :class:`~pixtab.core.format.origin.DetectorDecoder` (x with the XOFFSET of
the row's own exposure), and ra/dec from :class:`~pixtab.core.format.sky.SkyFrame`.
Whatever the table cannot provide is an :class:`InputError` before any row
is read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import InputError
from ..format import origin as org
from ..format.expr import COLUMNS, DECODED, SKY, Expression
from ..format.origin import DetectorDecoder
from ..format.sky import SkyFrame
from ..format.slicer import sky_slice
from .table import PixTable

Rows = np.ndarray | range  # table row indices, or a range of contiguous rows


class RowFilter:
    """``expression`` on the rows of ``pt``; decoded pixels and slices as the options say."""

    def __init__(
        self, pt: PixTable, expression: Expression, zero_based: bool = False, slice_numbering: str = "ccd"
    ) -> None:
        self.expression = expression
        self.zero_based, self.sky_slices = zero_based, slice_numbering == "sky"
        names = expression.names
        missing = sorted(n for n in names if n in COLUMNS and n not in pt.columns)
        if missing:
            have = ", ".join(c for c in pt.columns if c in COLUMNS)
            raise InputError(
                pt.path,
                f"the expression uses {', '.join(missing)}, which this table does not have (columns: {have})",
                field="where",
            )
        self.frame: SkyFrame | None = None
        if names & set(SKY):
            self.frame = SkyFrame.of(pt)
            if self.frame.is_pixel:
                raise InputError(pt.path, "pixel-unit table (positions in pixels): ra and dec are undefined", field="where")
        self.decoded = [n for n in DECODED if n in names]
        self.decoder = DetectorDecoder.of(pt) if self.decoded else None
        cols = [n for n in COLUMNS if n in names]
        if self.decoded:
            cols.append("origin")
        if self.frame is not None:
            cols += ["xpos", "ypos"]
        #: table columns the filter reads
        self.columns: tuple[str, ...] = tuple(dict.fromkeys(cols))

    def mask(self, get: Callable[[str], np.ndarray], rows: Callable[[], Rows], n: int) -> np.ndarray:
        """Bool mask of ``n`` rows: ``get(column)`` their values, ``rows()`` their table rows."""
        derived: dict[str, np.ndarray] = {}
        if self.decoder is not None:
            derived.update(self.decode(get("origin"), rows))
        if self.frame is not None:
            derived["ra"], derived["dec"] = self.frame.radec(get("xpos"), get("ypos"))
        if "row" in self.expression.names:
            r = rows()
            derived["row"] = np.arange(r.start, r.stop, dtype=np.int64) if isinstance(r, range) else np.asarray(r, np.int64)
        return self.expression.evaluate(lambda name: derived[name] if name in derived else get(name), n)

    def decode(self, origin: np.ndarray, rows: Callable[[], Rows]) -> dict[str, np.ndarray]:
        """The decoded fields the expression names."""
        assert self.decoder is not None
        return decode_fields(self.decoder, origin, rows, self.decoded, self.zero_based, self.sky_slices)


def decode_fields(
    decoder: DetectorDecoder,
    origin: np.ndarray,
    rows: Callable[[], Rows],
    fields: Sequence[str],
    zero_based: bool = False,
    sky_slices: bool = False,
) -> dict[str, np.ndarray]:
    """Decoded ``fields`` (ifu, slice, xpix, ypix, exp) of rows with these ``origin`` values;
    ``rows()`` gives their table rows (needed for exp and xpix only). Pixels 1-based unless
    ``zero_based``; XOFFSET keywords are looked up only for xpix."""
    out: dict[str, np.ndarray] = {}
    base = int(zero_based)
    exp = exposures_at(decoder, rows()) if {"exp", "xpix"} & set(fields) else None
    for name in fields:
        if name == "ifu":
            out[name] = org.get_ifu(origin)
        elif name == "slice":
            slc = org.get_slice(origin)
            out[name] = sky_slice(slc) if sky_slices else slc
        elif name == "xpix":
            out[name] = (decoder.x(origin, exp) - base).astype(np.int16)  # type: ignore[arg-type]
        elif name == "ypix":
            out[name] = (decoder.y(origin) - base).astype(np.int16)
        elif name == "exp":
            out[name] = exp  # type: ignore[assignment]
        else:
            raise ValueError(f"unknown decoded field {name!r}")
    return out


def exposures_at(decoder: DetectorDecoder, rows: Rows) -> np.ndarray:
    """Exposure number of the table rows ``rows`` (indices in any order, or a range)."""
    if isinstance(rows, range):
        return decoder.exposures.of_rows(rows.start, rows.stop)
    if not len(rows):
        return np.zeros(0, dtype=np.int16)
    lo, hi = int(rows.min()), int(rows.max()) + 1
    return decoder.exposures.of_rows(lo, hi)[rows - lo]
