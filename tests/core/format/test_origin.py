"""Property tests of the origin codec: encode/decode round trips over the valid field ranges,
agreement of the array decoders with ``decode_value`` and with plain bit arithmetic, and the
CCD/SKY slice permutation."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pixtab.core.format import origin as org
from pixtab.core.format.exposures import ExposureMap
from pixtab.core.ops.decode import decode_literals, sky_slice
from pixtab.core.format.keywords import Exposure
from pixtab.core.format.slicer import SKY_TO_CCD

XSLICE = st.integers(0, 0x7F)  # 7 bits
Y = st.integers(1, org.CCD_NY)  # 1-based CCD row
IFU = st.integers(1, 24)
SLICE = st.integers(1, org.N_SLICES)

fields = st.tuples(XSLICE, Y, IFU, SLICE)


@given(fields)
def test_round_trip_one_value(f: tuple[int, int, int, int]) -> None:
    xslice, y, ifu, slc = f
    value = int(org.encode(xslice, y, ifu, slc))
    assert 0 < value < 2**31  # bit 31 never set: positive as int32
    assert value == (xslice << 24) | (y << 11) | (ifu << 6) | slc
    assert org.decode_value(value) == {"xslice": xslice, "y": y, "ifu": ifu, "slice": slc}


@given(st.lists(fields, min_size=1, max_size=200))
def test_round_trip_arrays(rows: list[tuple[int, int, int, int]]) -> None:
    x, y, i, s = (np.array(c) for c in zip(*rows))
    o = org.encode(x, y, i, s)
    assert o.dtype == np.int32
    assert np.array_equal(org.get_xslice(o), x)
    assert np.array_equal(org.get_y(o), y)
    assert np.array_equal(org.get_ifu(o), i)
    assert np.array_equal(org.get_slice(o), s)


@given(hnp.arrays(np.int32, st.integers(1, 100), elements=st.integers(0, 2**31 - 1)))
def test_array_decoders_agree_with_decode_value(values: np.ndarray) -> None:
    """Any positive int32, valid fields or not: every decoder gives the same bit fields."""
    lit = decode_literals(values.tolist())
    assert np.array_equal(lit["value"], values)
    for k, v in enumerate(values.tolist()):
        d = org.decode_value(v)
        assert d["ifu"] == org.get_ifu(values)[k] == lit["ifu"][k]
        assert d["slice"] == org.get_slice(values)[k] == lit["slice"][k]
        assert d["y"] == org.get_y(values)[k] == lit["ypix"][k]
        assert d["xslice"] == org.get_xslice(values)[k] == lit["xslice"][k]
    # The four fields cover bits 0..30 exactly once.
    assert np.array_equal(org.encode(lit["xslice"], lit["ypix"], lit["ifu"], lit["slice"]), values)


@given(fields, st.integers(0, 8191 - 0x7F), st.integers(0, 5))
def test_detector_xy_adds_the_rows_exposure_offset(f: tuple[int, int, int, int], off: int, exp: int) -> None:
    xslice, y, ifu, slc = f
    other = (off + 7) % 8000
    raw = {(e, ifu, slc): (off if e == exp else other) for e in range(6)}
    o = org.encode([xslice], [y], [ifu], [slc])
    decoder = org.DetectorDecoder(ExposureMap([], 1), raw)
    for e in (exp, np.array([exp])):  # one exposure for the rows, or one per row
        x, yy = decoder.x(o, e), decoder.y(o)
        assert (int(x[0]), int(yy[0])) == (xslice + off, y)


@given(st.lists(st.integers(0, 50), min_size=1, max_size=6), st.integers(0, 400), st.integers(1, 400))
def test_exposure_of_rows_matches_the_drs_loop(sizes: list[int], start: int, length: int) -> None:
    """Vectorised exposure numbers equal muse_pixtable_get_expnum's loop, for any window of rows."""
    exps, first = [], 0
    for k, n in enumerate(sizes, 1):
        exps.append(Exposure(k, first, first + n - 1))  # n = 0: an empty range, LAST = FIRST - 1
        first += n
    total = first
    stop = min(start + length, total)
    start = min(start, stop)

    def drs(row: int) -> int:
        for e in exps:
            if e.last >= row:
                return e.exp if e.first <= row else 0
        return 0

    got = ExposureMap(exps, total).of_rows(start, stop)
    assert got.tolist() == [drs(r) for r in range(start, stop)]


@settings(max_examples=50)
@given(hnp.arrays(np.int16, st.integers(1, 50), elements=SLICE))
def test_sky_slice_is_the_inverse_of_sky_to_ccd(ccd: np.ndarray) -> None:
    sky = sky_slice(ccd)
    assert np.array_equal(np.array(SKY_TO_CCD)[sky], ccd)
    assert np.array_equal((sky - 1) // 12, (ccd - 1) // 12)  # stays inside its stack


def test_sky_slice_of_invalid_fields_is_zero() -> None:
    assert sky_slice(np.array([0, 49, 63])).tolist() == [0, 0, 0]
    assert sorted(sky_slice(np.arange(1, 49)).tolist()) == list(range(1, 49))
