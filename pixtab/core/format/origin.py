"""The ``origin`` column codec and the exposure of each row.

Bit layout (DRS ``muse_pixtable.c``)::

    origin = (xslice << 24) | (y << 11) | (ifu << 6) | slice

with ``y`` the 1-based row on the trimmed CCD and ``xslice = x - XOFFSET``
(``x`` 1-based). The detector x of a row needs the XOFFSET keyword of the
row's own exposure, IFU and slice: :class:`DetectorDecoder` is the one place
that pairs them (every command that needs detector pixels uses it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError, PixtabError
from .exposures import ExposureMap
from .keywords import plain, xoffset_key

SLICE_SHIFT, SLICE_MASK = 0, 0x3F
IFU_SHIFT, IFU_MASK = 6, 0x1F
Y_SHIFT, Y_MASK = 11, 0x1FFF
X_SHIFT, X_MASK = 24, 0x7F

N_IFUS = 24
N_SLICES = 48
CCD_NX = 4096
CCD_NY = 4112


def get_slice(origin: np.ndarray) -> np.ndarray:
    """CCD slice number (1..48) of each origin value."""
    return (origin & SLICE_MASK).astype(np.int16)


def get_ifu(origin: np.ndarray) -> np.ndarray:
    """IFU number (1..24) of each origin value."""
    return ((origin >> IFU_SHIFT) & IFU_MASK).astype(np.int16)


def get_y(origin: np.ndarray) -> np.ndarray:
    """1-based CCD row of each origin value."""
    return ((origin >> Y_SHIFT) & Y_MASK).astype(np.int16)


def get_xslice(origin: np.ndarray) -> np.ndarray:
    """x within the slice (x_CCD - XOFFSET) of each origin value."""
    return ((origin >> X_SHIFT) & X_MASK).astype(np.int16)


def encode(xslice: np.ndarray | int, y: np.ndarray | int, ifu: np.ndarray | int, slc: np.ndarray | int) -> np.ndarray:
    """Pack the four fields into origin values (int32). Fields are not range-checked."""
    x = np.asarray(xslice, dtype=np.int32)
    return (
        (x << X_SHIFT)
        | (np.asarray(y, dtype=np.int32) << Y_SHIFT)
        | (np.asarray(ifu, dtype=np.int32) << IFU_SHIFT)
        | np.asarray(slc, dtype=np.int32)
    ).astype(np.int32)


def decode_value(value: int) -> dict[str, int]:
    """The fields of one literal origin value (for ``decode-origin --value``)."""
    v = int(value)
    if not 0 <= v < 2**31:
        raise PixtabError(f"origin value {value} is outside 0..2**31-1")
    return {
        "ifu": (v >> IFU_SHIFT) & IFU_MASK,
        "slice": v & SLICE_MASK,
        "y": (v >> Y_SHIFT) & Y_MASK,
        "xslice": (v >> X_SHIFT) & X_MASK,
    }


class XOffsets:
    """Lookup table of XOFFSET keywords indexed by (exposure, ifu, slice).

    Missing or non-integer keywords are only an error when a row needs them,
    and the error names the keyword.
    """

    MISSING = -1
    INVALID = -2

    def __init__(self, raw: dict[tuple[int, int, int], object], path: str = "") -> None:
        self.path = path
        max_exp = max((k[0] for k in raw), default=0)
        # Indexed by the raw 5-bit IFU and 6-bit slice fields, so any origin value is a valid index.
        self.table = np.full((max_exp + 1, IFU_MASK + 1, SLICE_MASK + 1), self.MISSING, dtype=np.int32)
        for (exp, ifu, slc), value in raw.items():
            if not (0 <= ifu <= IFU_MASK and 0 <= slc <= SLICE_MASK):
                continue
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 8192
            self.table[exp, ifu, slc] = int(value) if ok else self.INVALID  # type: ignore[arg-type]
        self.raw = raw

    def lookup(self, exp: np.ndarray, ifu: np.ndarray, slc: np.ndarray) -> np.ndarray:
        """XOFFSET of each row; raises :class:`InputError` naming a missing keyword."""
        exp = np.asarray(exp)
        if exp.size and int(exp.max()) >= self.table.shape[0]:
            bad = int(np.argmax(exp >= self.table.shape[0]))
            self._fail(int(exp[bad]), int(ifu[bad]), int(slc[bad]), self.MISSING)
        off = self.table[exp, ifu, slc]
        if off.size and int(off.min()) < 0:
            bad = int(np.argmax(off < 0))
            self._fail(int(exp[bad]), int(ifu[bad]), int(slc[bad]), int(off[bad]))
        return off

    def _fail(self, exp: int, ifu: int, slc: int, code: int) -> None:
        name = plain(xoffset_key(exp, ifu, slc))
        if code == self.INVALID:
            value = self.raw.get((exp, ifu, slc))
            raise InputError(self.path, f"keyword '{name}' is not an integer in 0..8191 ({value!r})")
        raise InputError(self.path, f"keyword '{name}' is missing (needed to decode detector x)")


class DetectorDecoder:
    """Detector fields of origin values of one table: ifu, slice, x, y, exposure.

    x uses the XOFFSET keyword of the row's own exposure (from ``exposures``),
    IFU and slice; a missing or invalid keyword is an :class:`InputError`
    naming it, raised only when a row needs it. Pixels are 1-based as the DRS
    counts them (subtract 1 for MPDAF's).
    """

    def __init__(self, exposures: ExposureMap, xoffsets: dict[tuple[int, int, int], object], path: str = "") -> None:
        self.exposures = exposures
        self.xoffsets = XOffsets(xoffsets, path)

    @classmethod
    def of(cls, pt: Any) -> "DetectorDecoder":
        """The decoder of an open table (anything with ``keywords``, ``nrows`` and ``path``)."""
        return cls(ExposureMap(pt.keywords.exposures, pt.nrows), pt.keywords.xoffsets, pt.path)

    def x(self, origin: np.ndarray, exp: int | np.ndarray) -> np.ndarray:
        """1-based detector x of rows of exposure ``exp`` (one number, or one per row)."""
        if origin.dtype.kind == "u":  # signed arithmetic (callers subtract 1)
            origin = origin.astype(np.int64)
        table = self.xoffsets.table
        key = origin & (IFU_MASK << IFU_SHIFT | SLICE_MASK)  # ifu and slice fields: one gather per row
        if isinstance(exp, (int, np.integer)):
            off = table[exp].reshape(-1).take(key) if exp < table.shape[0] else None
            if off is None or (off.size and int(off.min()) < 0):
                self.xoffsets.lookup(np.full(len(origin), exp), get_ifu(origin), get_slice(origin))  # raises
        else:
            flat = table.reshape(table.shape[0], -1)
            if exp.size and int(exp.max()) >= flat.shape[0]:
                self.xoffsets.lookup(exp, get_ifu(origin), get_slice(origin))  # raises
            off = flat[exp, key]
            if off.size and int(off.min()) < 0:
                self.xoffsets.lookup(exp, get_ifu(origin), get_slice(origin))  # raises
        x = origin >> X_SHIFT
        x &= X_MASK
        x += off
        return x

    def y(self, origin: np.ndarray) -> np.ndarray:
        """1-based detector y (CCD row) of each origin value."""
        if origin.dtype.kind == "u":
            origin = origin.astype(np.int64)
        y = origin >> Y_SHIFT
        y &= Y_MASK
        return y

    def decode(self, origin: np.ndarray, start: int) -> dict[str, np.ndarray]:
        """ifu, slice, x, y, exp of the rows ``start..start+len(origin)-1`` (1-based pixels)."""
        exp = self.exposures.of_rows(start, start + len(origin))
        return {"ifu": get_ifu(origin), "slice": get_slice(origin), "x": self.x(origin, exp), "y": self.y(origin), "exp": exp}
