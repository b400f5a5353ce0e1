"""io/rowfilter.py: an expression bound to a table: the columns it reads, decoded fields
against an independent reference, and what a table cannot provide."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixtab.core.io.table import PixTable as CoreTable  # the core's table (pixtab.open gives the API's)
from pixtab.core.errors import InputError
from pixtab.core.format.expr import parse
from pixtab.core.format.origin import DetectorDecoder
from pixtab.core.io.rowfilter import RowFilter, decode_fields, exposures_at

from helpers.decode import reference_decode


@pytest.fixture(scope="module")
def combined(simulated) -> Path:
    return simulated(rows=12_000, ifus=[7, 8], exposures=3, wcs="positioned", seed=41)


@pytest.mark.parametrize("zero_based", [False, True])
def test_decoded_fields_match_the_reference(combined: Path, zero_based: bool) -> None:
    ref = reference_decode(combined, zero_based)
    with CoreTable(combined) as pt:
        origin = pt.read(["origin"])["origin"]
        dec = DetectorDecoder.of(pt)
    rows = np.sort(np.random.default_rng(1).choice(len(origin), 3000, replace=False))
    got = decode_fields(dec, origin[rows], lambda: rows, ["ifu", "slice", "xpix", "ypix", "exp"], zero_based)
    for name, values in got.items():
        assert np.array_equal(values, ref[name][rows]), name
    whole = decode_fields(dec, origin, lambda: range(0, len(origin)), ["exp", "xpix"], zero_based)
    assert np.array_equal(whole["exp"], ref["exp"]) and np.array_equal(whole["xpix"], ref["xpix"])
    assert np.array_equal(exposures_at(dec, rows[::-1]), ref["exp"][rows[::-1]])


def test_filter_reads_only_the_columns_it_names(combined: Path) -> None:
    with CoreTable(combined) as pt:
        assert RowFilter(pt, parse("dq == 0")).columns == ("dq",)
        assert RowFilter(pt, parse("ifu == 5 and data > 0")).columns == ("data", "origin")
        assert RowFilter(pt, parse("abs(dec) < 3")).columns == ("xpos", "ypos")
        from pixtab.core.io.criteria import Criteria
        from pixtab.core.io.selection import Selector

        assert Selector(pt, Criteria(where=(parse("stat > 1"),))).columns == ("stat",)


def test_unavailable_names_are_input_errors(simulated) -> None:
    single = simulated(rows=2000, ifus=[3], wcs="pixel", seed=42)
    with CoreTable(single) as pt:
        with pytest.raises(InputError, match="weight"):
            RowFilter(pt, parse("weight > 1"))
        with pytest.raises(InputError, match="ra and dec are undefined"):
            RowFilter(pt, parse("dec > 1"))
        assert RowFilter(pt, parse("xpos > 1")).columns == ("xpos",)  # pixel positions are columns
