"""Helpers for the decode-origin and reconstruct-det tests: an independent reference
decode (astropy + plain bit arithmetic, no pixtab code) and a small table writer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits


PFX = "ESO DRS MUSE PIXTABLE "


def read_columns(path: Path) -> tuple[fits.Header, dict[str, np.ndarray]]:
    """Primary header and all columns (lower-case names, native dtypes) via astropy."""
    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        if hdul[1].header["XTENSION"].strip() == "BINTABLE":
            table = hdul[1].data
            cols = {n.lower(): np.asarray(table[n]).astype(table[n].dtype.newbyteorder("=")) for n in table.names}
        else:
            cols = {
                h.name.lower(): np.asarray(h.data).reshape(-1).astype(h.data.dtype.newbyteorder("="))
                for h in hdul[1:]
                if h.header["XTENSION"].strip() == "IMAGE"
            }
    return header, cols


def reference_decode(path: Path, zero_based: bool = False) -> dict[str, np.ndarray]:
    """ifu, slice, xpix, ypix, exp of every row, straight from the format doc (section 4)."""
    header, cols = read_columns(path)
    o = cols["origin"].astype(np.int64)
    n = len(o)
    exp = np.zeros(n, dtype=np.int64)
    k = 1
    while f"{PFX}EXP{k} FIRST" in header:
        first, last = header[f"{PFX}EXP{k} FIRST"], header[f"{PFX}EXP{k} LAST"]
        exp[first : last + 1] = k
        k += 1
    slc, ifu = o & 0x3F, (o >> 6) & 0x1F
    y, xslice = (o >> 11) & 0x1FFF, (o >> 24) & 0x7F
    x = np.empty(n, dtype=np.int64)
    keys = exp * 10000 + ifu * 100 + slc
    for key in np.unique(keys):
        e, i, s = int(key) // 10000, int(key) // 100 % 100, int(key) % 100
        m = keys == key
        x[m] = xslice[m] + header[f"{PFX}EXP{e} IFU{i:02d} SLICE{s:02d} XOFFSET"]
    shift = 1 if zero_based else 0
    return {"row": np.arange(n), "ifu": ifu, "slice": slc, "xpix": x - shift, "ypix": y - shift, "exp": exp}


def write_table(path: Path, header: fits.Header, cols: dict[str, np.ndarray], units: dict[str, str | None], layout: str = "image") -> Path:
    """Write a pixel table with pixtab's writer (column order and units as given)."""
    from pixtab.core.io.writer import ColumnSpec, PixtableWriter

    specs = [ColumnSpec(name, arr.dtype, units.get(name)) for name, arr in cols.items()]
    n = len(next(iter(cols.values())))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        writer = PixtableWriter(fd, header, specs, n, layout)
        writer.write(cols)
        writer.finish(header)
    finally:
        os.close(fd)
    return path


def units_of(path: Path) -> dict[str, str | None]:
    import pixtab

    with pixtab.open(path) as pt:
        return {c.name: c.unit for c in pt.columns.values()}


def subset(src: Path, dst: Path, keep: np.ndarray, edit: dict[str, object] | None = None) -> Path:
    """Write rows ``keep`` (bool mask or indices, any order) of ``src`` to ``dst``, fixing EXPn FIRST/LAST.

    ``edit`` sets (value) or deletes (None) primary keywords afterwards.
    """
    header, cols = read_columns(src)
    idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
    exp = reference_decode(src)["exp"]
    k = 1
    while f"{PFX}EXP{k} FIRST" in header:
        kept = exp[idx]
        before = int(np.count_nonzero(kept < k))
        header[f"HIERARCH {PFX}EXP{k} FIRST"] = before
        header[f"HIERARCH {PFX}EXP{k} LAST"] = before + int(np.count_nonzero(kept == k)) - 1
        k += 1
    for name, value in (edit or {}).items():
        if value is None:
            del header[name]
        else:
            header[name] = value
    return write_table(dst, header, {n: c[idx] for n, c in cols.items()}, units_of(src))
