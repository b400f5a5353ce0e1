"""MPDAF's PixTableMask file: one boolean per pixel-table row.

The layout (MPDAF 3.6, ``mpdaf.drs.PixTableMask``): a primary HDU with
keywords PIXTABLE (the table's file name) and MASK (the sky mask's file name),
then an IMAGE HDU named MASKCOL of int32 values, shape (nrows, 1), BUNIT
'boolean'; a row is masked (True) when its value is non-zero.

Written in a stream (headers, then the values chunk by chunk) and read through
a memory map, so neither needs the whole column in memory.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

EXTNAME = "MASKCOL"
_BLOCK = 2880


@dataclass(frozen=True)
class MaskInfo:
    """What a PixTableMask file says about itself."""

    nrows: int
    pixtable: str
    maskfile: str


def _headers(nrows: int, pixtable: str, maskfile: str) -> bytes:
    from astropy.io import fits

    prim = fits.PrimaryHDU().header
    prim["DATE"] = (datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "creation date")
    prim["AUTHOR"] = ("pixtab", "origin of the file")
    prim["PIXTABLE"] = (os.path.basename(pixtable)[-68:], "pixtable")
    prim["MASK"] = (os.path.basename(maskfile)[-68:], "file to mask out all bright obj")
    ext = fits.ImageHDU(name=EXTNAME).header
    ext["BITPIX"] = 32
    ext["NAXIS"] = 2
    ext.insert("NAXIS", ("NAXIS1", 1), after=True)
    ext.insert("NAXIS1", ("NAXIS2", nrows), after=True)
    ext["BUNIT"] = "boolean"
    return prim.tostring().encode("ascii") + ext.tostring().encode("ascii")


def write_mask(fd: int, nrows: int, chunks: Iterable[np.ndarray], pixtable: str, maskfile: str) -> int:
    """Write a PixTableMask to the open file ``fd`` from boolean ``chunks`` (in row order,
    ``nrows`` in all); returns the number of True rows."""
    count = done = 0
    with os.fdopen(os.dup(fd), "wb") as f:
        f.write(_headers(nrows, pixtable, maskfile))
        for chunk in chunks:
            done += chunk.size
            if done > nrows:
                raise ValueError("more mask values than rows")
            count += int(np.count_nonzero(chunk))
            f.write(chunk.astype(">i4").tobytes())
        if done != nrows:
            raise ValueError(f"{done} mask values for {nrows} rows")
        pad = -(4 * nrows) % _BLOCK
        f.write(b"\0" * pad)
    return count


def is_mask_file(path: str) -> bool:
    """Does ``path`` look like a PixTableMask (a FITS file with a MASKCOL extension)?"""
    from astropy.io import fits

    try:
        with open(path, "rb") as f:
            if f.read(6) != b"SIMPLE":
                return False
        with fits.open(path, memmap=True, lazy_load_hdus=True) as hl:
            return any(h.name == EXTNAME for h in hl)
    except (OSError, ValueError):
        return False


def open_mask(path: str) -> tuple[MaskInfo, np.ndarray]:
    """The file's description and its values as a memory map (int32, one per row): slice it
    in chunks (``values[a:b] != 0``) rather than reading it whole."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hl:
            prim = hl[0].header
            hdu = hl[EXTNAME]
            hdr = hdu.header
            offset = hdu._data_offset  # noqa: SLF001 (astropy keeps the byte offset here)
    except KeyError:
        raise InputError(path, f"not a PixTableMask: no {EXTNAME} extension") from None
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read as a PixTableMask: {exc}") from None
    if hdr.get("NAXIS") != 2 or hdr.get("NAXIS1") != 1:
        raise InputError(path, f"{EXTNAME} must be an (nrows, 1) image, not NAXIS={hdr.get('NAXIS')} NAXIS1={hdr.get('NAXIS1')}")
    dtypes = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8"}
    if hdr.get("BITPIX") not in dtypes or hdr.get("BZERO", 0) or hdr.get("BSCALE", 1) != 1:
        raise InputError(path, f"{EXTNAME}: BITPIX {hdr.get('BITPIX')} (with BZERO/BSCALE) is not an integer column")
    nrows = int(hdr["NAXIS2"])
    values = np.memmap(path, dtype=dtypes[hdr["BITPIX"]], mode="r", offset=offset, shape=(nrows,)) if nrows else np.zeros(0, "i4")
    return MaskInfo(nrows, str(prim.get("PIXTABLE", "")), str(prim.get("MASK", ""))), values
