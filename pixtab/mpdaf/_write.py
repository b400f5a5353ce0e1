"""Headers and files of facade tables, the pipeline's way.

* :func:`subset_header`: the header of a row subset (LIMITS recomputed, EXPn
  FIRST/LAST shifted with the exposure numbers kept, MERGED = IFUs left), as
  ``pixtab extract`` writes it and the DRS expects.
* :func:`write_table`: a facade table to a FITS file through pixtab's writer,
  atomically, in the image layout or the pipeline's BINTABLE (never MPDAF's
  lossy ASCII TABLE), unit strings verbatim.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence

import astropy.units as u
import numpy as np
from astropy.io import fits

from ..core.fits.atomic import atomic_output
from ..core.fits.hdu import ColumnSpec, HDUCopy
from ..core.fits.header import Header as FitsHeader
from ..core.format import keywords as kwmod
from ..core.format.exposures import ExposureMap
from ..core.format.limits import LimitsAccumulator, finish_limits, reserve_limits
from ..core.format.origin import get_ifu
from ..core.io.writer import PixtableWriter, primary_header_for

COLUMNS = ("xpos", "ypos", "lambda", "data", "dq", "stat", "origin")
DTYPES = {"dq": np.int32, "origin": np.int32}  # every other column is float32
WRITE_ROWS = 1 << 21
#: the DRS's spelling of the units astropy would re-render (the DRS compares unit strings)
_DRS_UNITS = {
    "pix": "pix",
    "rad": "rad",
    "deg": "deg",
    "Angstrom": "Angstrom",
    "ct": "count",
    "ct2": "count**2",
    "1e-20 erg / (Angstrom s cm2)": "10**(-20)*erg/s/cm**2/Angstrom",
    "1e-40 erg2 / (Angstrom2 s2 cm4)": "(10**(-20)*erg/s/cm**2/Angstrom)**2",
}


def wcs_state(unit: u.UnitBase) -> str:
    """'pixel', 'projected' or 'positioned' from the xpos/ypos unit (the DRS rule)."""
    return {"pix": "pixel", "rad": "projected", "deg": "positioned"}.get(str(unit), "unknown")


def unit_string(unit: u.UnitBase, stored: str | None) -> str:
    """The unit string to write: the stored one when it still means ``unit``, else the DRS's."""
    if stored:
        with warnings.catch_warnings():  # the DRS's strings parse, with a style warning
            warnings.simplefilter("ignore", u.UnitsWarning)
            try:
                if u.Unit(stored, parse_strict="silent") == unit:
                    return stored
            except (ValueError, TypeError):
                pass
    key = unit.to_string()
    return _DRS_UNITS.get(key, unit.to_string("fits"))


def centre(header: fits.Header, state: str) -> tuple[float, float] | None:
    kw = kwmod.parse(header)
    if state == "positioned" and kw.crval1 is not None and kw.crval2 is not None:
        return kw.crval1, kw.crval2
    return None


def subset_header(header: fits.Header, nrows: int, kept: np.ndarray, cols: dict[str, np.ndarray], state: str) -> fits.Header:
    """The header of rows ``kept`` (sorted indices) of a table of ``nrows`` rows."""
    out = header.copy()
    exposures = ExposureMap(kwmod.parse(header).exposures, nrows)
    per_exp: dict[int, int] = {}
    exposures.count(0, kept, per_exp)
    for exp, first, last in exposures.shifted(per_exp):
        out[kwmod.key(f"EXP{exp} FIRST")] = first
        out[kwmod.key(f"EXP{exp} LAST")] = last
    acc = LimitsAccumulator()
    acc.add(cols["xpos"], cols["ypos"], cols["lambda"], cols["origin"])
    finish_limits(out, acc if kept.size else None, state, centre(header, state))
    if kwmod.key("MERGED") in out and kept.size:
        out[kwmod.key("MERGED")] = int(np.unique(get_ifu(np.asarray(cols["origin"]))).size)
    return out


def write_table(
    path: str | os.PathLike[str],
    header: fits.Header,
    specs: Sequence[ColumnSpec],
    nrows: int,
    read: Callable[[list[str], int, int], dict[str, np.ndarray]],
    state: str,
    layout: str = "image",
    extra_hdus: Sequence[HDUCopy] = (),
) -> None:
    """Write ``nrows`` rows, ``read(names, start, stop)`` giving the columns' values, to ``path``
    (replaced atomically, as MPDAF's write overwrites), in ``WRITE_ROWS`` pieces."""
    if nrows == 0:
        raise ValueError("a pixel table with no rows cannot be written (the pipeline cannot save one)")
    if not len(header) or header.cards[0].keyword != "SIMPLE":  # a header built in memory
        header = fits.PrimaryHDU(header=header.copy()).header
    hdr = primary_header_for(FitsHeader.fromstring(header.tostring()))  # the writer's own header type
    reserve_limits(hdr, True)
    acc = LimitsAccumulator()
    with atomic_output(path, overwrite=True) as fd:
        writer = PixtableWriter(fd, hdr, specs, nrows, layout, extra_hdus)
        for a in range(0, nrows, WRITE_ROWS):
            b = min(a + WRITE_ROWS, nrows)
            values = read([s.name for s in specs], a, b)
            chunk = {s.name: np.asarray(values[s.name]).astype(s.dtype, copy=False) for s in specs}
            acc.add(chunk["xpos"], chunk["ypos"], chunk["lambda"], chunk["origin"])
            writer.write(chunk)
        finish_limits(hdr, acc, state, centre(header, state))
        writer.finish(hdr)
