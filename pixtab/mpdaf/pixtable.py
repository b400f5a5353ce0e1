"""``PixTable``: MPDAF 3.6's ``mpdaf.drs.PixTable``, on pixtab's core.

Same constructor, attributes, methods, argument orders and return types as
MPDAF (0-based ``origin2xpix``/``origin2ypix``; float columns of a file come
back as float64; ``extract`` returns ``None`` when nothing is selected), so a
script only changes its import line. Underneath:

* a file-backed table reads each column on demand (only the rows asked for);
* ``extract`` on a file runs pixtab's planned, streaming selection and, with a
  ``filename``, writes the very bytes ``pixtab extract`` writes;
* ``set_*`` keep the changed columns in memory (an overlay over the file);
* ``write`` streams through pixtab's writer and replaces the file atomically.

Where MPDAF is wrong or crashes, this follows the MUSE pipeline (DRS); the
README's "Coming from MPDAF" section lists every such difference.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits

from ..core.format import keywords as kwmod
from ._access import ColumnsMixin
from ._columns import CoreColumns, HDUColumns, open_columns
from ._detector import DetectorMixin
from ._select import SelectMixin
from ._write import COLUMNS, DTYPES, ColumnSpec, unit_string, wcs_state, write_table

__all__ = ["KEYWORD", "PixTable", "numexpr"]

#: MPDAF toggles ``pixtable.numexpr``; pixtab never uses numexpr (kept so such scripts run)
numexpr = False
KEYWORD = "HIERARCH ESO DRS MUSE PIXTABLE"
_NOT_SET = object()
_ATTR = {"lambda": "lbda"}  # MPDAF's attribute name of the lambda column

log = logging.getLogger("pixtab.mpdaf")


class PixTable(ColumnsMixin, SelectMixin, DetectorMixin):
    """A MUSE pixel table, as MPDAF's ``PixTable`` (see the module docstring).

    ``PixTable(filename)`` opens a path or a file object; ``PixTable(None, xpos, ypos,
    lbda, data, dq, stat, origin, weight, primary_header)`` builds one in memory.
    """

    def __init__(
        self,
        filename: Any,
        xpos: Any = None,
        ypos: Any = None,
        lbda: Any = None,
        data: Any = None,
        dq: Any = None,
        stat: Any = None,
        origin: Any = None,
        weight: Any = None,
        primary_header: fits.Header | None = None,
        save_as_ima: bool = True,
        wcs: u.UnitBase = u.pix,
        wave: u.UnitBase = u.angstrom,
        unit_data: u.UnitBase = u.count,
    ) -> None:
        self.filename = filename
        self.wcs, self.wave, self.unit_data = wcs, wave, unit_data
        self.ima = save_as_ima
        self.nrows = 0
        self.nifu = 0
        self.xc = self.yc = 0.0
        self._cols: dict[str, np.ndarray] = {}  # in-memory columns (an overlay over a file)
        self._source: CoreColumns | HDUColumns | None = None
        self._hdulist: fits.HDUList | None = None
        if filename is not None:
            src = self._source = open_columns(filename)
            self.primary_header = src.header
            self.nrows = src.nrows
            self.ima = src.ima
            self.wcs = _unit(src.units.get("xpos"), self.wcs)
            self.wave = _unit(src.units.get("lambda"), self.wave)
            self.unit_data = _unit(src.units.get("data"), self.unit_data)
        else:
            given = (xpos, ypos, lbda, data, dq, stat, origin)
            if any(v is None for v in given) or primary_header is None:
                self.primary_header = fits.Header()
            else:
                self.primary_header = primary_header
                for name, values in zip(COLUMNS, given):
                    self._cols[name] = np.asarray(values)
                self.nrows = self._cols["xpos"].shape[0]
                if any(a.shape[0] != self.nrows for a in self._cols.values()):
                    raise OSError("input data with different dimensions")
                if weight is not None:
                    if np.shape(weight)[0] != self.nrows:
                        raise OSError("input data with different dimensions")
                    self._cols["weight"] = np.asarray(weight)
        if self.nrows:
            self.nifu = self.get_keyword("MERGED", 1)
            self._set_centre()

    def _set_centre(self) -> None:
        """xc, yc: the field centre in degrees (RA/DEC projected, CRVAL1/2 positioned)."""
        keys = {"projected": ("RA", "DEC"), "positioned": ("CRVAL1", "CRVAL2")}.get(self.projection or "")
        if keys is None:
            if self.projection is not None:
                log.warning("Unknown projection: %s", self.projection)
            return
        hdr = self.primary_header
        try:
            cunit = u.Unit(hdr["CUNIT1"])
            self.xc = (hdr[keys[0]] * cunit).to(u.deg).value
            self.yc = (hdr[keys[1]] * cunit).to(u.deg).value
        except Exception:  # noqa: BLE001 - MPDAF's fallback: the values as they are
            try:
                self.xc, self.yc = hdr[keys[0]], hdr[keys[1]]
            except KeyError:
                pass

    def __repr__(self) -> str:
        extra = "".join([", sky-subtracted" if self.skysub else "", ", flux-calibrated" if self.fluxcal else ""])
        return f"<{type(self).__name__}({self.nrows} rows, {self.nifu} ifus, {self.projection}{extra})>"

    # -- MPDAF's column attributes: the in-memory arrays, None until loaded ---------

    xpos = property(lambda self: self._cols.get("xpos"))
    ypos = property(lambda self: self._cols.get("ypos"))
    lbda = property(lambda self: self._cols.get("lambda"))
    data = property(lambda self: self._cols.get("data"))
    stat = property(lambda self: self._cols.get("stat"))
    dq = property(lambda self: self._cols.get("dq"))
    origin = property(lambda self: self._cols.get("origin"))
    weight = property(lambda self: self._cols.get("weight"))

    @property
    def hdulist(self) -> fits.HDUList | None:
        """The file as an astropy HDUList (memory-mapped, opened on first use), or None."""
        if isinstance(self._source, HDUColumns):
            return self._source.hdulist
        if self._hdulist is None and isinstance(self._source, CoreColumns):
            self._hdulist = fits.open(self._source.path, memmap=True)
        return self._hdulist

    @property
    def fluxcal(self) -> bool:
        """True when the table was flux-calibrated."""
        return self.get_keyword("FLUXCAL", False)

    @property
    def skysub(self) -> bool:
        """True when the table was sky-subtracted."""
        return self.get_keyword("SKYSUB", False)

    @property
    def projection(self) -> str | None:
        """'projected' or 'positioned' (first word of the WCS keyword), or None."""
        wcs = self.get_keyword("WCS", None)
        return wcs.split(" ")[0] if wcs is not None else None

    def copy(self) -> "PixTable":
        """A copy: same file (read-only), copies of the in-memory columns and header."""
        out = PixTable.__new__(PixTable)
        out.__dict__.update(self.__dict__)
        out._cols = {k: v.copy() for k, v in self._cols.items()}
        out._hdulist = None
        out.primary_header = self.primary_header.copy()
        return out

    def info(self) -> None:
        """Log what the table is (merged IFUs, calibration, projection) and its HDUs."""
        hdr = self.primary_header
        log.info("%i merged IFUs went into this pixel table", self.nifu)
        if self.skysub:
            log.info("This pixel table was sky-subtracted")
        if self.fluxcal:
            log.info("This pixel table was flux-calibrated")
        key = f"{KEYWORD} WCS"
        if key in hdr:
            log.info("%s (%s)", hdr[key], hdr.comments[key])
        else:
            log.info("Unknown projection")
        if self.hdulist is not None:
            log.info(self.hdulist.info())
        else:
            log.info("No\tName\tType\tDim")
            log.info("0\tPRIMARY\tcard\t()")

    # -- writing ------------------------------------------------------------------

    def write(self, filename: Any, save_as_ima: bool = True) -> None:
        """Save to ``filename`` (replaced atomically): image layout, or with
        ``save_as_ima=False`` the pipeline's BINTABLE layout. Columns are written as
        float32/int32, units as the pipeline spells them, LIMITS recomputed."""
        names = [c for c in COLUMNS] + (["weight"] if self._has("weight") else [])
        units = {"xpos": self.wcs, "ypos": self.wcs, "lambda": self.wave, "data": self.unit_data, "stat": self.unit_data**2}
        stored = self._source.units if self._source is not None else {}
        specs = [
            ColumnSpec(n, np.dtype(DTYPES.get(n, np.float32)), unit_string(units[n], stored.get(n)) if n in units else None)
            for n in names
        ]
        extra = []
        if isinstance(self._source, CoreColumns):
            from ..core.fits.hdu import HDUCopy

            t = self._source.table
            extra = [HDUCopy(t.fd, h, t.path) for h in t.extra_hdus]
        write_table(filename, self.primary_header, specs, self.nrows, self._slice, wcs_state(self.wcs),
                    "image" if save_as_ima else "table", extra)
        self.filename = filename
        self.ima = save_as_ima

    def _slice(self, names: list[str], start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows ``start..stop-1`` of ``names``: in-memory columns sliced, the others read
        from the file in one go (one read of the interleaved rows of a BINTABLE)."""
        out = {n: self._cols[n][start:stop] for n in names if n in self._cols}
        rest = [n for n in names if n not in out]
        if rest and isinstance(self._source, CoreColumns):
            out.update(self._source.table.read(rest, start, stop))
        elif rest:
            assert self._source is not None
            out.update({n: self._source.read(n, slice(start, stop)) for n in rest})
        return out

    def _has(self, name: str) -> bool:
        return name in self._cols or (self._source is not None and self._source.has(name))

    def get_exp(self) -> np.ndarray | None:
        """Exposure number of every row (float64, as MPDAF), from the EXPn FIRST/LAST
        keywords (0 outside them, as the pipeline); None on a single-exposure table."""
        exposures = kwmod.parse(self.primary_header).exposures
        if not exposures:
            return None
        exp = np.zeros(self.nrows)
        for e in exposures:
            exp[e.first : e.last + 1] = e.exp
        return exp

    # -- keywords -------------------------------------------------------------------

    def get_keyword(self, key: str, default: Any = _NOT_SET) -> Any:
        """The value of ``HIERARCH ESO DRS MUSE PIXTABLE <key>`` (KeyError, or ``default``)."""
        try:
            return self.primary_header[f"{KEYWORD} {key}"]
        except KeyError:
            if default is not _NOT_SET:
                return default
            raise

    def set_keyword(self, key: str, val: Any) -> None:
        """Set ``HIERARCH ESO DRS MUSE PIXTABLE <key>``."""
        self.primary_header[f"{KEYWORD} {key}"] = val

    def mask_column(self, maskfile: Any = None) -> Any:
        """A :class:`PixTableMask`: True for rows whose sky position falls on a pixel != 0 of
        the sky image ``maskfile`` (rows off the image take the nearest edge pixel, as MPDAF)."""
        import tempfile

        from ..api import _engine
        from .mask import PixTableMask

        if isinstance(self._source, CoreColumns) and not self._cols:
            col = _engine.mask_column(self._source.table, str(maskfile))
        else:  # an in-memory table: through a temporary file of it
            with tempfile.TemporaryDirectory(prefix="pixtab-") as tmp:
                path = os.path.join(tmp, "pixtable.fits")
                filename, ima = self.filename, self.ima
                self.write(path)
                self.filename, self.ima = filename, ima
                with _engine.PixTable(path) as pt:
                    col = _engine.mask_column(pt, str(maskfile))
        return PixTableMask(maskfile=maskfile, maskcol=col, pixtable=self.filename)


def _unit(text: str | None, default: u.UnitBase) -> u.UnitBase:
    """The unit of a column's unit string (the DRS's strings parse, with a style warning
    from astropy that says nothing to a user: silenced)."""
    if not text:
        return default
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        try:
            return u.Unit(text)
        except ValueError:
            return u.Unit(text, parse_strict="silent")
