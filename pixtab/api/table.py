"""``pixtab.open(path)`` -> :class:`Table`: a pixel table opened for reading and selecting."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ..core.format.exposures import number_ranges
from ..core.io.table import DEFAULT_CHUNK_ROWS, Chunk
from ..core.io.table import PixTable as CoreTable
from . import _engine
from .selection import Selection, unsigned_dq


class Table:
    """A pixel table opened for reading (use as a context manager, or :meth:`close`).

    ``path``, ``nrows``, ``layout`` ('image', 'table' or 'ascii-table'), ``state``
    ('pixel', 'projected', 'positioned'), ``exposures`` ([0] for a single exposure,
    else the EXPn numbers), ``columns`` (name -> column: dtype, unit string),
    ``units``, ``primary_header`` (astropy Header), ``keywords`` (parsed pixtable
    keywords), ``centre`` ((RA, Dec) degrees or None).

    :meth:`select` is the way in: it returns a lazy :class:`Selection`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._pt = CoreTable(path)

    # the core table's description, as it is
    path = property(lambda self: self._pt.path)
    nrows = property(lambda self: self._pt.nrows)
    layout = property(lambda self: self._pt.layout)
    columns = property(lambda self: self._pt.columns)
    primary_header = property(lambda self: self._pt.primary_header.to_astropy(), doc="The primary header (an astropy Header, a copy).")
    keywords = property(lambda self: self._pt.keywords)
    centre = property(lambda self: self._pt.centre)
    flat_field = property(lambda self: self._pt.flat_field)
    extra_hdus = property(lambda self: self._pt.extra_hdus)

    @property
    def state(self) -> str:
        """'pixel', 'projected', 'positioned' or 'unknown' (from the xpos/ypos units, as the DRS)."""
        return self._pt.wcs

    wcs = state  # the core's name

    @property
    def exposures(self) -> list[int]:
        """Exposure numbers: [0] for a single exposure, the EXPn numbers of a combined table."""
        return self._pt.keywords.exposure_numbers

    @property
    def units(self) -> dict[str, str | None]:
        """Unit string of each column, verbatim."""
        return {n: c.unit for n, c in self._pt.columns.items()}

    def __repr__(self) -> str:
        exps = self.exposures
        what = "1 exposure" if exps == [0] else f"{len(exps)} exposures ({number_ranges(exps, ',')})"
        name = os.path.basename(self.path)
        return f"<pixtab.Table {name}: {self.nrows:,} rows, {self.layout} layout, {self.state}, {what}>"

    def __enter__(self) -> "Table":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pt.close()

    # -- reading ----------------------------------------------------------------------

    def read(self, names: Iterable[str] | None = None, start: int = 0, stop: int | None = None,
             native: bool = True) -> dict[str, np.ndarray]:
        """Rows ``start..stop-1`` of the named columns (all if None), numpy arrays; ``dq``
        as uint32 (bit 31 is a flag, not a sign). ``native=False``: big-endian as stored
        (no byte swap). Memory: 4 bytes per row and column."""
        return unsigned_dq(self._pt.read(names, start, stop, native))

    def iter_chunks(self, names: Iterable[str] | None = None, start: int = 0, stop: int | None = None,
                    chunk_rows: int = DEFAULT_CHUNK_ROWS, native: bool = True) -> Iterator[Chunk]:
        """:class:`Chunk` objects (``start``, ``stop``, ``arrays``) covering the rows in order,
        read ahead in a thread; bounded memory (``chunk_rows`` rows); dq as uint32."""
        for chunk in _engine.iter_chunks(self._pt, names, start, stop, chunk_rows, native):
            unsigned_dq(chunk.arrays)
            yield chunk

    # -- selecting --------------------------------------------------------------------

    def select(self, full_scan: bool = False, **criteria: Any) -> Selection:
        """The rows meeting ``criteria``, as a lazy :class:`Selection` (nothing is read yet).

        Criteria (all optional, AND-ed; ``any=True`` OR-s them, as ``--or``):

        * ``circle=(ra, dec, radius)``, ``square=(ra, dec, half_side)``: degrees and
          arcsec (numbers, or astropy angles); a list of them is OR-ed. Pixel tables:
          pixels.
        * ``lam=(lo, hi)``: Angstrom, half-open; ``None`` leaves an end open; a list is OR-ed.
        * ``ifu``, ``slice`` (CCD numbering; ``slice_numbering='sky'``), ``stack`` (1..4),
          ``exp``: a number or a list.
        * ``xpix=(lo, hi)``, ``ypix=(lo, hi)``: detector pixels, 1-based as the pipeline
          counts them (``zero_based=True``: MPDAF's), half-open; a list is OR-ed.
        * ``where="dq == 0 and data > 3*sqrt(stat)"``: a row filter (the CLI's ``--where``
          language; dq unsigned); ``good=True`` is ``where="dq == 0"``.
        * ``mask="sky.fits"`` (``mask_invert=True``: its background), ``region="r.reg"``: sky
          masks as ``--mask``/``--region``; ``rows``: a ``"LO:HI"`` spec or a file as ``--rows``,
          a ``range``, or a numpy array of row indices or of one boolean per row.
        * ``full_scan=True``: test every row (no index, no row-order planning).

        Raises :class:`pixtab.CriteriaError` for a request that makes no sense.
        """
        from .criteria import build

        return Selection(self, build(**criteria), full_scan=full_scan)

    def all(self) -> Selection:
        """Every row, as a :class:`Selection`."""
        return self.select()
