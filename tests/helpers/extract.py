"""The extract tests' independent reference: what every criterion looks at, for every row of
a table, from the format doc's formulas (sky positions) and the XOFFSET keywords (detector x),
and the check that an output holds exactly ``input[reference]``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from pixtab.core.format.keywords import xoffset_key
from pixtab.core.io.table import PixTable

RA0, DEC0 = 150.1163, 2.2058


@dataclass
class Ref:
    """Everything a criterion looks at, for every row of a table, computed independently."""

    path: Path
    cols: dict[str, np.ndarray]
    header: fits.Header
    wcs: str
    lam: np.ndarray
    ifu: np.ndarray
    slc: np.ndarray
    x1: np.ndarray  # 1-based detector x
    y1: np.ndarray
    exp: np.ndarray
    ra: np.ndarray
    dec: np.ndarray

    def aperture(self, shape: str, ra_c: float, dec_c: float, size: float) -> np.ndarray:
        if self.wcs == "pixel":
            dx, dy = self.ra - ra_c, self.dec - dec_c
        else:
            dra = (self.ra - ra_c + 180.0) % 360.0 - 180.0
            dx = dra * 3600.0 * math.cos(math.radians(dec_c))
            dy = (self.dec - dec_c) * 3600.0
        if shape == "circle":
            return dx**2 + dy**2 < size**2
        return (np.abs(dx) < size) & (np.abs(dy) < size)


def reference(path: Path) -> Ref:
    with PixTable(path) as pt:
        cols = pt.read(None)
        header = pt.primary_header
        wcs = pt.wcs
    o = cols["origin"].astype(np.int64)
    ifu, slc = (o >> 6) & 0x1F, o & 0x3F
    y1 = (o >> 11) & 0x1FFF
    exp = np.zeros(len(o), dtype=np.int64)
    k = 1
    while f"HIERARCH ESO DRS MUSE PIXTABLE EXP{k} FIRST" in header:
        first = header[f"HIERARCH ESO DRS MUSE PIXTABLE EXP{k} FIRST"]
        last = header[f"HIERARCH ESO DRS MUSE PIXTABLE EXP{k} LAST"]
        exp[first : last + 1] = k
        k += 1
    offsets = np.array([header[xoffset_key(int(e), int(i), int(s))] for e, i, s in zip(exp, ifu, slc)])
    x1 = ((o >> 24) & 0x7F) + offsets
    x, y = cols["xpos"].astype(np.float64), cols["ypos"].astype(np.float64)
    if wcs == "positioned":
        ra, dec = header["CRVAL1"] + x, header["CRVAL2"] + y
    elif wcs == "projected":
        t, d0 = y + np.pi / 2, math.radians(header["DEC"])
        ra = header["RA"] + np.degrees(np.arctan2(np.cos(t) * np.sin(x), np.sin(t) * math.cos(d0) + np.cos(t) * math.sin(d0) * np.cos(x)))
        dec = np.degrees(np.arcsin(np.sin(t) * math.sin(d0) - np.cos(t) * math.cos(d0) * np.cos(x)))
    else:
        ra, dec = x, y
    return Ref(path, cols, header, wcs, cols["lambda"].astype(np.float64), ifu, slc, x1, y1, exp, ra, dec)


def bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32) if a.dtype.itemsize == 4 else a


def assert_rows(out: Path, ref: Ref, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The output holds exactly the reference's selected rows, every column bit for bit."""
    with PixTable(out) as pt:
        got = pt.read(None)
        assert list(pt.columns) == list(ref.cols)
    for name, values in ref.cols.items():
        assert np.array_equal(bits(got[name]), bits(values[mask])), name
    return got
