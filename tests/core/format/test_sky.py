"""RA normalisation and wrapping (core/format/sky): the quick paths give the remainder's bits."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pixtab.core.format.sky import _ra_range, wrap_delta_ra

EDGES = [0.0, -0.0, 180.0, -180.0, 360.0, -360.0, 359.99999999999994, -1e-300, 1e-300, 179.99999999999997]
VALUES = st.lists(st.one_of(st.floats(width=64), st.sampled_from(EDGES)), max_size=6)


def _wrap_by_remainder(dra: np.ndarray) -> np.ndarray:
    return (np.asarray(dra, dtype=np.float64) + 180.0) % 360.0 - 180.0


def _range_by_remainder(ra: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        out = np.mod(ra, 360.0)
    out[out >= 360.0] = 0.0
    return out


def _bits(a: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(a), np.nan, a).view(np.int64)  # every NaN as one NaN


@settings(max_examples=2000, deadline=None)
@given(VALUES)
def test_wrap_is_the_remainder_bit_for_bit(values: list[float]) -> None:
    a = np.array(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        assert np.array_equal(_bits(wrap_delta_ra(a)), _bits(_wrap_by_remainder(a)))


@settings(max_examples=2000, deadline=None)
@given(VALUES)
def test_ra_range_is_the_remainder_bit_for_bit(values: list[float]) -> None:
    a = np.array(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        assert np.array_equal(_bits(_ra_range(a.copy())), _bits(_range_by_remainder(a.copy())))


def test_minus_zero_becomes_plus_zero() -> None:
    out = _ra_range(np.array([-0.0, 10.0]))
    assert not np.signbit(out[0]) and out[1] == 10.0


def test_wrapping_across_ra_zero() -> None:
    assert wrap_delta_ra(np.array([359.0, -359.0, 180.0, -180.0])).tolist() == [-1.0, 1.0, -180.0, -180.0]
