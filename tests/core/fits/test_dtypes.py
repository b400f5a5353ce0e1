"""pixtab.core.fits.dtypes: the one table of FITS number types."""

from __future__ import annotations

import numpy as np
import pytest

from pixtab.core.fits import dtypes


@pytest.mark.parametrize("name,bitpix,tform", dtypes.TYPES)
def test_round_trips(name: str, bitpix: int, tform: str) -> None:
    dt = np.dtype(name)
    assert dtypes.bitpix_of(dt) == bitpix and dtypes.dtype_of_bitpix(bitpix) == dt
    assert dtypes.tform_of(dt) == "1" + tform and dtypes.dtype_of_tform("1" + tform) == dt
    assert dtypes.bitpix_of(dt.newbyteorder(">")) == bitpix  # stored (big-endian) types too


def test_tform_parsing() -> None:
    assert dtypes.dtype_of_tform("E") == np.float32
    assert dtypes.dtype_of_tform("3E") is None and dtypes.dtype_of_tform("10A") is None
    assert dtypes.field_bytes("3E") == 12 and dtypes.field_bytes("10A") == 10 and dtypes.field_bytes("9X") == 2
    assert dtypes.parse_ascii_tform("E15.7") == ("E", 15) and dtypes.parse_ascii_tform("Z3") is None
    assert dtypes.dtype_of_ascii("I", 11) == np.int64 and dtypes.dtype_of_ascii("D", 25) == np.float64
    assert dtypes.dtype_of_ascii("A", 8) == np.dtype("S8")
    assert dtypes.BITPIXES == (8, 16, 32, 64, -32, -64)
    with pytest.raises(KeyError):
        dtypes.bitpix_of(np.dtype(np.complex64))
