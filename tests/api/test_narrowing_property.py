"""Narrowing a selection (``sel.select(...)``) keeps exactly the rows meeting both criteria,
whether the two are said as one set of criteria (planned as a whole) or not (row sets)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pixtab

from conftest import conformance_file

pytestmark = pytest.mark.conformance

RA, DEC = 53.158703, -27.7892259  # a source of F1
POOL = [
    {"ifu": 6}, {"ifu": [6, 17]}, {"slice": [1, 3, 10, 31, 48]}, {"stack": 2}, {"stack": [1, 4]},
    {"lam": (6500, 7500)}, {"lam": [(6200, 6300), (7000, 8000)]}, {"lam": (None, 6800)},
    {"xpix": (200, 1500), "zero_based": True}, {"ypix": [(1300, 1700), (2700, 3300)]},
    {"circle": (RA, DEC, 4.0)}, {"square": (RA, DEC, 3.0)}, {"where": "data > 0"}, {"good": True},
    {"ifu": 17, "lam": (6000, 7000), "any": True}, {"ifu": [5, 6]},
]


@pytest.fixture(scope="module")
def table():  # type: ignore[no-untyped-def]
    with pixtab.open(conformance_file("F1")) as pt:
        yield pt


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.sampled_from(POOL), b=st.sampled_from(POOL))
def test_narrowing_is_the_intersection(table, a: dict, b: dict) -> None:  # type: ignore[no-untyped-def]
    first = table.select(**a)
    both = first.select(**b)
    want = np.intersect1d(first.rows, table.select(**b).rows)
    np.testing.assert_array_equal(both.rows, want)
    assert both.count() == want.size
