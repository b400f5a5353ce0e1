"""A lazy selection of rows of a pixel table: ``pixtab.open(path).select(...)``.

Nothing is read until a result is asked for; the selection pass then runs once
(planned as ``pixtab extract`` plans it: index, row order or full scan) and is
kept. :meth:`Selection.read` and :meth:`Selection.table` materialise the
selected rows (4 bytes per row and column; 8 for the row numbers); every other
result streams.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import CriteriaError, InputError
from . import _engine
from .criteria import build, narrowed

if TYPE_CHECKING:  # pragma: no cover
    from astropy.io import fits
    from astropy.table import Table as AstropyTable

    from .table import Table


def unsigned_dq(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``dq`` viewed as uint32 (in place in the dict): its bits are flags, bit 31 included."""
    if "dq" in arrays and arrays["dq"].dtype.kind == "i" and arrays["dq"].dtype.itemsize == 4:
        arrays["dq"] = arrays["dq"].view(arrays["dq"].dtype.str.replace("i", "u"))  # keeps the byte order
    return arrays


class Selection:
    """Rows of one table meeting some criteria (or narrowed by several), evaluated lazily.

    ``count()``, ``rows``, ``read(names)``, ``table()``, ``decode()``, ``sky()`` give
    the rows; ``select(...)`` narrows; ``write(path)`` writes them as ``pixtab extract``
    does; ``with_columns(name=values)`` replaces columns in what ``write`` writes;
    ``image()``, ``spectrum()``, ``fit()``, ``reconstruct_det()`` measure them as the
    commands do.
    """

    def __init__(self, table: "Table", criteria: Any, core: Any = None,
                 replaced: dict[str, np.ndarray] | None = None, full_scan: bool = False) -> None:
        self._table = table
        self.full_scan = full_scan
        #: the core's Criteria; None for rows that no one set of criteria describes (``core`` given)
        self.criteria = criteria
        self._core: Any = core  # the engine's selection, once run
        self._rows: np.ndarray | None = None
        self._replaced = replaced or {}

    @property
    def _pt(self) -> Any:
        return self._table._pt

    def _selection(self) -> Any:
        if self._core is None:
            self._core = _engine.select(self._pt, self.criteria, self.full_scan)
        return self._core

    def __repr__(self) -> str:
        n = f"{self._core.count():,} rows" if self._core is not None else "not run yet"
        what = "narrowed rows" if self.criteria is None else ("every row" if self.criteria.empty else "criteria")
        return f"<pixtab.Selection of {os.path.basename(self._pt.path)}: {what}, {n}>"

    def __len__(self) -> int:
        return self.count()

    # -- the rows ------------------------------------------------------------------------

    def count(self) -> int:
        """Number of selected rows."""
        return self._selection().count()

    @property
    def rows(self) -> np.ndarray:
        """Sorted int64 indices (0-based) of the selected rows: the rows ``pixtab extract`` keeps."""
        if self._rows is None:
            self._rows = _engine.rows(self._selection())
        return self._rows

    def read(self, names: Any = None) -> dict[str, np.ndarray]:
        """The selected rows of the named columns (all if None), as numpy arrays in the
        file's types, ``dq`` as uint32; replaced columns (:meth:`with_columns`) as replaced.
        Memory: 4 bytes per selected row and column."""
        pt = self._pt
        names = list(pt.columns) if names is None else [n.lower() for n in ([names] if isinstance(names, str) else names)]
        for n in names:
            if n not in pt.columns:
                raise InputError(pt.path, f"no column '{n}' (have: {', '.join(pt.columns)})", field="names")
        wanted = [n for n in names if n not in self._replaced]
        parts = [a for _, a in _engine.iter_rows(pt, wanted, self._selection())] if wanted else []
        out = {}
        for n in names:
            if n in self._replaced:
                out[n] = self._replaced[n]
            else:
                out[n] = np.concatenate([p[n] for p in parts]) if parts else np.empty(0, pt.columns[n].dtype)
        return unsigned_dq(out)

    def table(self, names: Any = None) -> "AstropyTable":
        """An astropy Table of the selected rows: ``row`` then the columns, with their units
        (dq uint32). Memory as :meth:`read`."""
        from astropy.table import Table as AstropyTable

        data = self.read(names)
        t = AstropyTable()
        t["row"] = self.rows
        for n, values in data.items():
            unit = self._pt.columns[n].unit
            t[n] = values
            if unit:
                t[n].unit = _unit(unit)
        t.meta["PIXTABLE"] = os.path.basename(self._pt.path)
        return t

    def decode(self, zero_based: bool = False, slice_numbering: str = "ccd") -> "AstropyTable":
        """The detector origin of each selected row, as ``pixtab decode-origin``: columns
        ``row, ifu, slice, xpix, ypix, exp``; pixels 1-based as the pipeline counts them
        (``zero_based=True``: MPDAF's); x from the XOFFSET of the row's own exposure."""
        from astropy.table import Table as AstropyTable

        from ..core.format import origin as org
        from ..core.format.slicer import sky_slice

        if slice_numbering not in ("ccd", "sky"):
            raise CriteriaError(f"slice numbering must be 'ccd' or 'sky', not {slice_numbering!r}", field="slice_numbering")
        pt = self._pt
        origin = self.read(["origin"])["origin"]
        rows = self.rows
        exp = np.zeros(rows.size, dtype=np.int16)
        for e in pt.keywords.exposures:
            lo, hi = np.searchsorted(rows, [e.first, e.last + 1])
            exp[lo:hi] = e.exp
        decoder = org.DetectorDecoder.of(pt)
        base = 1 if zero_based else 0
        slc = org.get_slice(origin)
        return AstropyTable({
            "row": rows,
            "ifu": org.get_ifu(origin),
            "slice": sky_slice(slc) if slice_numbering == "sky" else slc,
            "xpix": decoder.x(origin, exp) - base,
            "ypix": decoder.y(origin) - base,
            "exp": exp,
        })

    def sky(self) -> "AstropyTable":
        """Absolute sky position of each selected row: columns ``row, ra, dec`` in degrees
        (RA in [0, 360)). A pixel-unit table has none (:class:`pixtab.InputError`)."""
        import astropy.units as u
        from astropy.table import Table as AstropyTable

        from ..core.format.sky import SkyFrame

        pt = self._pt
        if pt.wcs == "pixel":
            raise InputError(pt.path, "pixel-unit table (xpos/ypos in pix): no sky positions", field="sky")
        cols = self.read(["xpos", "ypos"])
        ra, dec = SkyFrame.of(pt).radec(cols["xpos"], cols["ypos"])
        return AstropyTable({"row": self.rows, "ra": ra * u.deg, "dec": dec * u.deg})

    # -- narrowing ----------------------------------------------------------------------

    def select(self, full_scan: bool = False, **criteria: Any) -> "Selection":
        """These rows AND ``criteria`` (same arguments as :meth:`pixtab.api.Table.select`)."""
        more = build(**criteria)
        full_scan = full_scan or self.full_scan
        if self._replaced:
            raise CriteriaError("narrow the selection before replacing columns (with_columns)", field="with_columns")
        both = narrowed(self.criteria, more) if self.criteria is not None else None
        if both is not None:  # one set of criteria: planned as a whole, measurable as the commands
            return Selection(self._table, both, full_scan=full_scan)
        # else the engine tests ``more`` on these rows only (reading only chunks that hold some)
        return Selection(self._table, None, _engine.narrow(self._selection(), more))

    def with_columns(self, **columns: Any) -> "Selection":
        """These rows with some columns replaced (one value per selected row, in row order),
        for :meth:`write`: ``sel.with_columns(data=new_data).write("fixed.fits")``. Values are
        cast to the column's type (float32 or int32); LIMITS follow them."""
        pt = self._pt
        n = self.count()
        replaced = dict(self._replaced)
        for name, values in columns.items():
            col = pt.columns.get(name.lower())
            if col is None:
                raise InputError(pt.path, f"no column '{name}' (have: {', '.join(pt.columns)})", field=name)
            arr = np.asarray(values)
            if arr.shape != (n,):
                raise CriteriaError(f"column '{name}': {arr.shape} values for {n} selected rows", field=name)
            if name.lower() == "dq" and arr.dtype.kind == "u":
                arr = arr.astype(np.uint32).view(np.int32)
            replaced[name.lower()] = arr.astype(col.dtype, casting="same_kind") if arr.dtype != col.dtype else arr
        out = Selection(self._table, self.criteria, self._core, replaced, self.full_scan)
        out._rows = self._rows
        return out

    # -- writing -------------------------------------------------------------------------

    def write(self, path: str | os.PathLike[str], layout: str = "image", overwrite: bool = False,
              allow_empty: bool = False) -> None:
        """Write the selected rows as a pixel table, the very bytes ``pixtab extract`` writes
        (header updated as the pipeline does; atomic: a failed write leaves nothing).
        ``layout``: 'image' or 'table'. :class:`pixtab.EmptySelectionError` when nothing
        is selected (unless ``allow_empty``)."""
        if layout not in ("image", "table"):
            raise CriteriaError(f"layout must be 'image' or 'table', not {layout!r}", field="layout")
        crit = self.criteria if self.criteria is not None else build()
        if self._replaced:
            _engine.write_replaced(self._pt, self._selection(), crit, path, self._replaced, layout, overwrite)
        else:
            _engine.write(self._pt, self._selection(), crit, path, layout, overwrite, allow_empty)

    # -- measuring (as the commands) -----------------------------------------------------

    def _measured(self) -> tuple[Any, Any, Any]:
        """(core table, criteria, temporary directory or None) to measure these rows with:
        the table and the criteria, or for narrowed rows or replaced columns a
        temporary extract (as big as the selection)."""
        if self.criteria is not None and not self._replaced:
            return self._pt, self.criteria, None
        return self._extracted()

    def _extracted(self) -> tuple[Any, Any, Any]:
        from ..core.io.table import PixTable as CoreTable

        tmp = tempfile.TemporaryDirectory(prefix="pixtab-")
        path = os.path.join(tmp.name, "rows.fits")
        self.write(path)
        return CoreTable(path), build(), tmp

    def image(self, spaxel: float = 0.2, column: str = "data", statistic: str = "mean",
              keep_flagged: bool = False, variance: bool = False) -> "fits.HDUList":
        """The rows binned on a TAN grid (``pixtab image``): an HDUList with a celestial WCS,
        the rows per spaxel (NROWS) and with ``variance`` the variance (STAT)."""
        pt, crit, tmp = self._measured()
        try:
            return _engine.image(pt, crit, spaxel, column, statistic, keep_flagged, variance)
        finally:
            _close(pt, tmp, self._pt)

    def spectrum(self, bin: float = 1.25, keep_flagged: bool = False) -> "AstropyTable":  # noqa: A002
        """Sums and means of the rows in wavelength bins of ``bin`` Angstrom (``pixtab
        spectrum``): an astropy Table with units."""
        from astropy.table import Table as AstropyTable

        pt, crit, tmp = self._measured()
        try:
            spec = _engine.spectrum(pt, crit, bin, keep_flagged)
        finally:
            _close(pt, tmp, self._pt)
        t = AstropyTable(spec.columns())
        for name, unit in spec.units().items():
            if unit and name in t.colnames:
                t[name].unit = _unit(unit)
        return t

    def fit(self, model: str = "gaussian", background: bool = True, bins: int | None = None,
            bin: float | None = None, fwhm: float = 0.8) -> "AstropyTable":  # noqa: A002
        """A PSF fit on the rows (``pixtab fit``): one row for the whole range, then one per
        wavelength bin (``bins`` of them, or ``bin`` Angstrom wide); ``status`` says why a bin failed."""
        from astropy.table import Table as AstropyTable

        pt, crit, tmp = self._measured()
        try:
            results = _engine.fit(pt, crit, model, background, bins, bin, fwhm)
        finally:
            _close(pt, tmp, self._pt)
        return AstropyTable(rows=[list(r.values()) for r in results], names=list(results[0])) if results else AstropyTable()

    def reconstruct_det(self, ifu: int | Sequence[int] | None = None, exp: int | None = None, column: str = "data",
                        fill: str = "nan", zero_based: bool = False, xpix: Any = None, ypix: Any = None,
                        full_ccd: bool = False, all_ifus: bool = False) -> "fits.HDUList":
        """Detector images of the rows (``pixtab reconstruct-det``): an HDUList, one image per
        IFU (``ifu``: one IFU or several, as ``--ifu``); world coordinates are detector pixels
        (1-based, or 0-based with ``zero_based``)."""
        from astropy.io import fits

        from .criteria import _ranges

        every_row = self.criteria is not None and self.criteria.empty and not self._replaced
        # The command images a whole table: a selection goes through a temporary extract.
        pt, _, tmp = (self._pt, None, None) if every_row else self._extracted()
        out_dir = tempfile.TemporaryDirectory(prefix="pixtab-")
        try:
            out = os.path.join(out_dir.name, "det.fits")
            window = {k: (_ranges(k, v)[0] if v is not None else None) for k, v in (("xpix", xpix), ("ypix", ypix))}
            _engine.reconstruct_det(pt, out, column=column, ifus=_ifu_list(ifu), exp=exp, full_ccd=full_ccd, all_ifus=all_ifus,
                                    fill=fill, zero_based=zero_based, **window)
            with fits.open(out) as hdul:
                return fits.HDUList([h.copy() for h in hdul])
        finally:
            out_dir.cleanup()
            _close(pt, tmp, self._pt)


def _ifu_list(ifu: int | Sequence[int] | None) -> tuple[int, ...]:
    return () if ifu is None else (int(ifu),) if isinstance(ifu, (int, np.integer)) else tuple(int(i) for i in ifu)


def _unit(text: str) -> Any:
    """The astropy unit of a unit string kept verbatim (the DRS's strings parse, with a
    style warning that tells a user nothing: silenced; unknown strings stay as they are)."""
    import warnings

    import astropy.units as u

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        return u.Unit(text, parse_strict="silent")


def _close(pt: Any, tmp: Any, own: Any) -> None:
    if tmp is not None:
        if pt is not own:
            pt.close()
        tmp.cleanup()
