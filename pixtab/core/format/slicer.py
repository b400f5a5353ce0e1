"""Slice numbering: CCD order (origin field), SKY order and stacks.

The CCD-to-SKY permutation is the DRS ``kMuseGeoSliceSky`` table (format doc
section 7.1). It stays inside blocks of 12, so MPDAF stack n is CCD slices
12(n-1)+1 .. 12n, whichever numbering is used.
"""

from __future__ import annotations

import numpy as np

# SKY slice number of each CCD slice, for the first block of 12 (k = 1..12).
_SKY_IN_BLOCK = (9, 8, 1, 10, 7, 2, 11, 6, 3, 12, 5, 4)

#: CCD_TO_SKY[ccd] for ccd in 1..48 (index 0 unused)
CCD_TO_SKY: tuple[int, ...] = (0,) + tuple(
    12 * block + _SKY_IN_BLOCK[k] for block in range(4) for k in range(12)
)
#: SKY_TO_CCD[sky] for sky in 1..48 (index 0 unused)
SKY_TO_CCD: tuple[int, ...] = tuple(
    [0] + [CCD_TO_SKY.index(s) for s in range(1, 49)]
)


def stack_slices(stack: int) -> list[int]:
    """CCD slice numbers of MPDAF stack ``stack`` (1..4): all 12 of them."""
    if not 1 <= stack <= 4:
        raise ValueError(f"stack {stack} is outside 1..4")
    return list(range(12 * (stack - 1) + 1, 12 * stack + 1))


# SKY number of each raw 6-bit slice field; 0 where the field is not a slice (0, 49..63).
_SKY_OF_FIELD = np.zeros(64, dtype=np.int16)
_SKY_OF_FIELD[1:49] = CCD_TO_SKY[1:]


def sky_slice(ccd_slice: np.ndarray) -> np.ndarray:
    """SKY slice numbers of CCD slice numbers (0 for values that are not slices)."""
    return _SKY_OF_FIELD[np.asarray(ccd_slice) & 0x3F]
