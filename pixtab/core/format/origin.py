"""The ``origin`` column codec and the exposure of each row.

Bit layout (DRS ``muse_pixtable.c``)::

    origin = (xslice << 24) | (y << 11) | (ifu << 6) | slice

with ``y`` the 1-based row on the trimmed CCD and ``xslice = x - XOFFSET``
(``x`` 1-based). The detector x of a row needs the XOFFSET keyword of the
row's own exposure, IFU and slice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError, PixtabError
from .keywords import Exposure, plain, xoffset_key

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


def exposure_of_rows(start: int, stop: int, exposures: Sequence[Exposure]) -> np.ndarray:
    """Exposure number of rows ``start..stop-1`` (DRS ``muse_pixtable_get_expnum``).

    0 for tables without EXPn FIRST/LAST keywords, as the pipeline numbers them.
    """
    out = np.zeros(stop - start, dtype=np.int16)
    for e in exposures:
        lo, hi = max(e.first, start), min(e.last + 1, stop)
        if lo < hi:
            out[lo - start : hi - start] = e.exp
    return out


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


def detector_xy(
    origin: np.ndarray,
    exp: np.ndarray,
    xoffsets: XOffsets,
    zero_based: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Detector (x, y) of each row, 1-based as the DRS counts unless ``zero_based``."""
    ifu = get_ifu(origin)
    slc = get_slice(origin)
    x = get_xslice(origin).astype(np.int32) + xoffsets.lookup(exp, ifu, slc)
    y = get_y(origin).astype(np.int32)
    if zero_based:
        x -= 1
        y -= 1
    return x, y
