"""``PixTable``: open a pixel table, validate it, describe it, and stream its columns.

The core's reader (the public API, :mod:`pixtab.api`, wraps one: ``pixtab.open``)::

    with PixTable("PIXTABLE_OBJECT_0001.fits") as pt:
        pt.nrows, pt.layout, pt.columns, pt.keywords, pt.wcs, pt.centre
        cols = pt.read(["lambda", "data"], 0, 1000)        # dict of native arrays

(passes over many rows go through the scan engine, :mod:`pixtab.core.io.scan`)

How the columns are stored is the business of the layout object ``pt.storage``
(:mod:`pixtab.core.io.layouts`: image, BINTABLE or ASCII TABLE); this class
only opens the file, checks what makes it a pixel table and reads rows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..fits.header import Header
from ..fits.structure import HDUInfo, int_value, open_input, scan_fd
from ..format import keywords as kwmod
from ..format.columns import FLAT_FIELD_EXTNAME, REQUIRED
from ..format.keywords import PixtableKeywords
from .layouts import Buffers, Column, Layout, read_layout

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 2**21  # 2 Mi rows: 8 MiB per float32 column


@dataclass
class Chunk:
    """Rows ``start..stop-1`` of some columns, as native-endian arrays."""

    start: int
    stop: int
    arrays: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __len__(self) -> int:
        return self.stop - self.start


class PixTable:
    """A pixel table opened for streaming reads. Use as a context manager.

    Attributes: ``path``, ``nrows``, ``layout``, ``columns`` (dict in file order),
    ``primary_header``, ``keywords`` (:class:`PixtableKeywords`), ``extra_hdus``
    (HDUs that are not columns, e.g. ``PIXTABLE_FLAT_FIELD``), ``hdus``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        # Every read goes through this one descriptor (see open_input): a file replaced
        # by name meanwhile stays readable, whole, through it.
        self._fd: int | None = open_input(path)
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> None:
        assert self._fd is not None
        self.size = os.fstat(self._fd).st_size
        self.hdus: list[HDUInfo] = scan_fd(self._fd, self.path)
        self.primary_header: Header = self.hdus[0].header
        if len(self.hdus) < 2:
            raise InputError(self.path, "no extensions: not a pixel table")
        what = what_else(self.hdus)
        if what:
            raise InputError(self.path, what)
        self.storage: Layout = read_layout(self.path, self.hdus)
        #: 'image', 'table' or 'ascii-table'
        self.layout: str = self.storage.name
        self.columns: dict[str, Column] = self.storage.columns
        self.nrows: int = self.storage.nrows
        self.extra_hdus: list[HDUInfo] = self.storage.extra_hdus
        missing = [c for c in REQUIRED if c not in self.columns]
        if missing:
            raise InputError(self.path, f"missing column(s): {', '.join(missing)}")
        if self.columns["origin"].dtype.kind not in "iu":
            raise InputError(
                self.path,
                f"column 'origin' is {self.columns['origin'].dtype.name}: it must be an integer column (it encodes IFU, slice and pixel)",
            )
        kwmod.warn_duplicates(self.primary_header, self.path)
        self.keywords: PixtableKeywords = kwmod.parse(self.primary_header, self.path)
        if self.keywords.pipeline_type not in ("GEOFULL", "SIMPLE"):
            found = self.keywords.pipeline_type
            raise InputError(
                self.path,
                "keyword 'ESO DRS MUSE PIXTABLE TYPE' is "
                + ("missing" if found is None else f"{found!r}")
                + " (expected GEOFULL or SIMPLE): not a pixel table",
            )
        kwmod.check_exposures(self.keywords.exposures, self.nrows, self.path)
        if self.keywords.weighted and "weight" not in self.columns:
            # MPDAF fails on such a table; a lost last extension (cut copy) also looks like this.
            log.warning("%s: keyword '%sWEIGHTED' is T but there is no weight column", self.path, kwmod.PREFIX)
        self.wcs = self._wcs_state()

    def _wcs_state(self) -> str:
        """'pixel', 'projected', 'positioned' or 'unknown', from the xpos/ypos units (DRS rule)."""
        ux = (self.columns["xpos"].unit or "").strip()[:4]
        uy = (self.columns["ypos"].unit or "").strip()[:4]
        state = {"pix": "pixel", "rad": "projected", "deg": "positioned"}.get(ux, "unknown") if ux == uy else "unknown"
        if ux != uy:
            log.warning("%s: xpos unit %r and ypos unit %r differ", self.path, ux, uy)
        expected_kw = {"projected": "projected", "positioned": "positioned"}.get(state)
        kwval = (self.keywords.wcs_keyword or "").lower()
        if (expected_kw is None and kwval) or (expected_kw and not kwval.startswith(expected_kw)):
            log.warning(
                "%s: WCS keyword %r disagrees with the xpos unit %r; using the unit (%s)",
                self.path,
                self.keywords.wcs_keyword,
                ux,
                state,
            )
        return state

    # -- public helpers -------------------------------------------------------

    @property
    def has_weight(self) -> bool:
        return "weight" in self.columns

    @property
    def flat_field(self) -> HDUInfo | None:
        """The PIXTABLE_FLAT_FIELD extension, if any."""
        for h in self.extra_hdus:
            if (h.extname or "").upper() == FLAT_FIELD_EXTNAME:
                return h
        return None

    @property
    def centre(self) -> tuple[float, float] | None:
        """Field centre (RA, Dec) in degrees: RA/DEC if projected, CRVAL1/2 if positioned."""
        k = self.keywords
        if self.wcs == "projected" and k.ra is not None and k.dec is not None:
            return (k.ra, k.dec)
        if self.wcs == "positioned" and k.crval1 is not None and k.crval2 is not None:
            return (k.crval1, k.crval2)
        return None

    def hdu_bytes(self, h: HDUInfo) -> bytes:
        """One whole HDU (header, data, padding) as it should be on disk.

        Padding missing from the end of a cut file is restored as zeros, so the
        bytes can be appended to an output as a complete HDU.
        """
        size = h.end_offset - h.header_offset
        blob = os.pread(self.fd, size, h.header_offset)
        self.check_unchanged()
        if len(blob) < h.data_offset - h.header_offset + h.data_size:
            raise InputError(self.path, f"HDU {h.index} is truncated")
        return blob.ljust(size, b"\0")

    # -- reading --------------------------------------------------------------

    def __enter__(self) -> "PixTable":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def fd(self) -> int:
        """The descriptor every read of this table goes through (opened once)."""
        if self._fd is None:
            raise ValueError(f"{self.path}: the table is closed")
        return self._fd

    def check_unchanged(self) -> None:
        """InputError when the file changed size since it was opened (modified in place)."""
        now = os.fstat(self.fd).st_size
        if now != self.size:
            raise InputError(self.path, f"the file changed while being read ({self.size} bytes, now {now})")

    def _names(self, names: Iterable[str] | None) -> list[str]:
        if names is None:
            return list(self.columns)
        out = []
        for n in names:
            if n.lower() not in self.columns:
                raise InputError(self.path, f"no column '{n}' (have: {', '.join(self.columns)})")
            out.append(n.lower())
        return out

    def read(
        self, names: Iterable[str] | None, start: int = 0, stop: int | None = None, native: bool = True,
        buffers: Buffers | None = None,
    ) -> dict[str, np.ndarray]:
        """Read rows ``start..stop-1`` of the named columns (all if None).

        With ``native=False`` the values keep the file's big-endian byte order
        (no byteswap): contiguous arrays for the image layout, strided views
        into one row buffer for the table layout (no copy). ASCII tables are
        parsed to native numbers either way. ``buffers``: work arrays the image
        layout reads into (the arrays returned are then theirs, valid until reused).
        """
        stop = self.nrows if stop is None else min(stop, self.nrows)
        start = max(0, min(start, stop))
        out = self.storage.read(self.fd, self._names(names), start, stop, native, buffers)
        self.check_unchanged()
        return out


def what_else(hdus: list[HDUInfo]) -> str | None:
    """Why a FITS file is not a pixel table at all (and what it seems to be), or None.

    Not a pixel table: tile-compressed extensions, or no extension that is one of
    the pipeline's columns (an (nrows, 1) image named like one, or a TTYPE of the
    first table).
    """
    for h in hdus[1:]:
        if h.header.get("ZIMAGE") is True or h.header.get("ZTABLE") is True:
            return f"HDU {h.index} is tile-compressed, not a plain FITS table: decompress it first (funpack FILE)"
    if any(k in hdus[0].header for k in (kwmod.key("TYPE"), kwmod.LEGACY_PREFIX + "TYPE")):
        return None  # it says it is a pixel table: a damaged one, the column checks say how
    first = hdus[1]
    if first.xtension in ("BINTABLE", "TABLE"):
        try:
            n = int_value(first.header, "TFIELDS", 0, minimum=0)
        except ValueError:
            return None  # a damaged table: the column checks name the keyword
        names = [str(first.header.get(f"TTYPE{i}", "")).strip() for i in range(1, min(n, 999) + 1)]
        if any(name.lower() in REQUIRED for name in names):
            return None
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        return f"not a pixel table: HDU 1 is a table of columns {shown or '(none)'}" + _made_by(hdus[0])
    if first.xtension != "IMAGE":
        return None
    images = [h for h in hdus[1:] if h.xtension == "IMAGE"]
    # A column is an (nrows, 1) image named like one (a cube's DATA/STAT/DQ are not).
    if any((h.extname or "").lower() in REQUIRED and h.header.get("NAXIS") == 2 and h.header.get("NAXIS1") == 1 for h in images):
        return None
    shown = ", ".join(f"{h.extname or f'HDU {h.index}'} {_shape(h)}" for h in images[:6]) + (", ..." if len(images) > 6 else "")
    return f"not a pixel table: its image extensions are {shown}" + _made_by(hdus[0])


def _shape(h: HDUInfo) -> str:
    n = h.header.get("NAXIS", 0)
    dims = [str(h.header.get(f"NAXIS{i}", "?")) for i in range(1, n + 1)] if isinstance(n, int) and 0 < n < 10 else []
    return "x".join(dims) if dims else "(no data)"


def _made_by(primary: HDUInfo) -> str:
    """' (pixtab reconstruct-det output: ...)' and the like, where the primary header tells."""
    h = primary.header
    source = h.get("PIXTABLE")
    if source is not None and "ROWSTART" in h:
        return f" (pixtab decode-origin output, from {source})"
    if source is not None and "PIXBASE" in h:
        return f" (pixtab reconstruct-det output: detector images from {source})"
    catg = h.get("HIERARCH ESO PRO CATG")
    return f" (ESO PRO CATG = {catg})" if catg else ""
