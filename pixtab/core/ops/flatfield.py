"""The PIXTABLE_FLAT_FIELD extension of an extracted table, trimmed to the wavelength cut.

The DRS keeps the flat-field rows within 2.5 Angstrom of a wavelength cut. A flat
field of another shape than the DRS's (a binary table with a scalar lambda
column) is carried untrimmed, with a warning saying why; its header is read card
by card, so nothing in it (e.g. TFIELDS = 2147483648) sizes an allocation.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from ..fits.dtypes import field_bytes
from ..fits.structure import HDUInfo, header_bytes, int_value, pad_bytes
from ..format.columns import FLAT_FIELD_EXTNAME
from ..io.table import PixTable

log = logging.getLogger(__name__)

FLAT_FIELD_MARGIN = 2.5  # Angstrom kept around a wavelength cut (DRS)


def trimmed_flat_field(pt: PixTable, h: HDUInfo, span: tuple[float, float] | None) -> bytes:
    """The PIXTABLE_FLAT_FIELD HDU, rows outside [lo - 2.5, hi + 2.5] Angstrom dropped.

    A flat field of another shape than the DRS's (a binary table with a scalar
    lambda column) is carried untrimmed, with a warning saying why. Its header is
    read card by card: nothing in it sizes an allocation.
    """
    blob = pt.hdu_bytes(h)
    if span is None:
        return blob
    why = _untrimmable(h)
    if isinstance(why, str):
        log.warning("%s: %s %s; copied untrimmed", pt.path, FLAT_FIELD_EXTNAME, why)
        return blob
    offset, dtype, width, nrows = why
    start = h.data_offset - h.header_offset
    rows = np.frombuffer(blob, dtype=np.uint8, count=width * nrows, offset=start).reshape(nrows, width)
    lam = rows[:, offset : offset + dtype.itemsize].copy().view(dtype).reshape(-1).astype(np.float64)
    lo, hi = span[0] - FLAT_FIELD_MARGIN, span[1] + FLAT_FIELD_MARGIN
    keep = (lam >= lo) & (lam <= hi)
    new = h.header.copy()
    new["NAXIS2"] = int(keep.sum())
    data = rows[keep].tobytes()
    return header_bytes(new) + data + pad_bytes(len(data))


_SCALAR_FLOAT = {"E": np.dtype(">f4"), "D": np.dtype(">f8")}


def _untrimmable(h: HDUInfo) -> str | tuple[int, np.dtype, int, int]:
    """Why the flat field cannot be trimmed, or (lambda byte offset, dtype, row bytes, rows)."""
    hdr = h.header
    if h.xtension != "BINTABLE":
        return f"is a {h.xtension} extension, not a binary table"
    try:
        nfields = int_value(hdr, "TFIELDS", minimum=0)
        width = int_value(hdr, "NAXIS1", minimum=0)
        nrows = int_value(hdr, "NAXIS2", minimum=0)
        heap = int_value(hdr, "PCOUNT", 0, minimum=0)
    except ValueError as exc:
        return f"has a bad header ({exc})"
    if nfields > 999:  # the FITS standard's limit
        return f"has TFIELDS = {nfields} (at most 999)"
    if heap:
        return "has a heap"
    pos, found = 0, None
    for i in range(1, nfields + 1):
        tform = str(hdr.get(f"TFORM{i}", "")).strip().upper()
        m = re.fullmatch(r"(\d*)([A-Z])(\(.*\))?", tform)
        if not m:
            return f"has an unreadable TFORM{i} = {tform!r}"
        if str(hdr.get(f"TTYPE{i}", "")).strip().lower() == "lambda":
            if m[2] not in _SCALAR_FLOAT or int(m[1] or 1) != 1:
                return f"has a lambda column of format {tform!r}, not one float per row"
            found = (pos, _SCALAR_FLOAT[m[2]])
        pos += field_bytes(tform)
    if found is None:
        return "has no lambda column"
    if pos != width:
        return f"has columns of {pos} bytes in rows of {width}"
    return found[0], found[1], width, nrows
